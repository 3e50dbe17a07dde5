"""`jianxue keys`, `jianxue serve` and `jianxue doctor`: the HTTP API's keys and server, and the
installation's checks. The adapter (bots/http) is imported only when `serve` runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assistant.cli_common import err, out, print_json
from assistant.cli_common import load_assistant as _assistant
from assistant.errors import ConfigError

keys_app = typer.Typer(help="API keys for the HTTP API (shown once, stored hashed).", no_args_is_help=True)

Departments = Annotated[Optional[list[str]], typer.Option("--dept", help="Department (repeatable).")]
Role = Annotated[str, typer.Option(help="learner, trainer or admin.")]


# -- API keys ----------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="Who the key belongs to.")],
    role: Role = "learner",
    dept: Departments = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"key": ...} as JSON.')] = False,
) -> None:
    """Create an API key; it is printed once and cannot be shown again."""
    key_id, secret = _assistant().keys.create(user=user, role=role, departments=tuple(dept or ()))
    if as_json:
        print_json({"key": secret, "key_id": key_id, "user": user, "role": role, "departments": list(dept or ())})
        return
    out.print(f"key for {user} ({role}; {', '.join(dept or ()) or 'no department'}), shown once:", highlight=False)
    out.print(secret, markup=False, highlight=False)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """The keys (ids, users, roles, departments), never the keys themselves."""
    rows = _assistant().keys.list()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['key_id']}  {r['user']}  {r['role']}  {','.join(r['departments'])}"
                  + ("  (revoked)" if r["revoked"] else ""), markup=False, highlight=False)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (from keys list).", show_default=False)]) -> None:
    """Revoke a key at once."""
    _assistant().keys.revoke(key_id)
    out.print(f"revoked {key_id}", highlight=False)


# -- the HTTP API --------------------------------------------------------------------------------


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (scaled-out setup only).")] = 1,
) -> None:
    """Run the HTTP API and the widget. Embedded, one process holds the data directory's writer
    lock while it runs; scaled out (Chroma server + PostgreSQL), any number of workers share it."""
    try:
        import uvicorn

        from bots.http.app import create_app
    except ImportError:
        raise ConfigError('the HTTP API needs its extra: pip install -c constraints.txt -e ".[http]"') from None
    from assistant.config import load_settings

    settings = load_settings()
    where = f"jianxue API on http://{host}:{port} (widget: /widget/demo.html, docs: /docs)"
    if settings.scaled_out:
        err.print(f"{where}, {workers} worker{'s' if workers > 1 else ''}", highlight=False)
        uvicorn.run("bots.http.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
        return
    if workers > 1:
        raise ConfigError("several workers need the scaled-out setup (JIANXUE_CHROMA__URL and a PostgreSQL "
                          "JIANXUE_DATABASE__URL): the embedded index has exactly one writer. See the README, "
                          "'Scaling out'.")
    assistant = _assistant()
    with assistant.writer_lock("serve"):
        err.print(where, highlight=False)
        uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")


# -- operations ------------------------------------------------------------------------------------


def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False) -> None:
    """Check the data directory, database, vector store, embedder, index and model server; say what to fix."""
    from assistant.config import load_settings
    from assistant.doctor import diagnose

    checks = diagnose(load_settings())
    if as_json:
        print_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            out.print(f"{'[green]ok[/]  ' if c.ok else '[red]FAIL[/]'} {c.name}: ", end="", highlight=False)
            out.print(c.detail, markup=False, highlight=False)
            if not c.ok and c.fix:
                out.print(f"      → {c.fix}", markup=False, highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
