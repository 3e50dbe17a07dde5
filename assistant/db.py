"""The one SQLAlchemy engine factory: SQLite in the data directory by default, any URL
(PostgreSQL for a scaled-out deployment) otherwise. The schema is Alembic's
(assistant/migrations), brought up to date once per process, under a lock so that workers
starting together migrate once. A database that cannot be reached raises
:class:`DatabaseUnavailable` (the API answers 503) and is tried again on the next call."""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from assistant.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_KEY = 0x6A69616E78756531  # pg_advisory_xact_lock key of schema upgrades ("jianxue1")
_upgraded: set[str] = set()
_upgrading = threading.Lock()


def open_database(url: str) -> Engine:
    """An engine whose schema is current."""
    engine = make_engine(url)
    with _upgrading:
        key = engine.url.render_as_string(hide_password=False)
        if key not in _upgraded:
            upgrade_schema(engine)
            _upgraded.add(key)
    return engine


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=10, future=True)
        _translate_outages(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # readers never block the one writer
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Alembic to head (a database made before migrations existed gets the tables it lacks)."""
    from alembic import command

    config = _alembic_config()
    with _migration_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def now() -> datetime:
    """The time stored in every timestamp column: aware, in UTC."""
    return datetime.now(timezone.utc)


def aware(moment: datetime) -> datetime:
    """A timestamp as read back (SQLite returns naive ones): aware, in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def dialect_insert(conn, table):
    """The connection's own INSERT, which has ON CONFLICT (SQLite and PostgreSQL both): a row
    two workers write at the same moment is written once."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def table_definitions():
    """Every table jianxue defines, in one MetaData (the schema the migrations must produce)."""
    from sqlalchemy import MetaData

    from assistant import access, learners
    from assistant.conversation import store as conversations
    from assistant.experts import store as experts
    from assistant.index import docstore
    from assistant.quiz import store as quizzes
    from assistant.training import store as training

    combined = MetaData()
    for metadata in (docstore.metadata, quizzes.metadata, learners.metadata, access.metadata, conversations.metadata,
                     experts.metadata, training.metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def head_revision() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before any migration)."""
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def _migration_lock(engine: Engine):
    """SQLite: a lock file beside the database (PostgreSQL locks inside the transaction)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _translate_outages(engine: Engine) -> None:
    """A server that cannot be reached (down, restarting, network) becomes DatabaseUnavailable;
    pool_pre_ping replaces dead connections once it is back."""

    @event.listens_for(engine, "handle_error")
    def _unavailable(context) -> None:
        error = context.sqlalchemy_exception
        if context.is_disconnect or isinstance(error, OperationalError) or (
                isinstance(error, DBAPIError) and error.connection_invalidated):
            where = engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailable(f"the database at {where} cannot be reached "
                                      f"({type(context.original_exception).__name__}); try again shortly") from None
