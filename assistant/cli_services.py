"""`jianxue keys`, `jianxue serve` and `jianxue bot`: the commands that run or administer the
adapters. The adapters themselves (bots/) are imported only when one of these runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assistant.console import err, out, print_json
from assistant.console import load_assistant as _assistant
from assistant.errors import ConfigError

keys_app = typer.Typer(help="API keys for the HTTP API (shown once, stored hashed).", no_args_is_help=True)
bot_app = typer.Typer(help="The Telegram bot: run it, admit users, make pairing codes.", no_args_is_help=True)

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


# -- the Telegram bot ------------------------------------------------------------------------------


def _bot_state():
    try:
        from bots.telegram.state import BotState
    except ImportError:
        raise ConfigError('the Telegram bot needs its extra: pip install -c constraints.txt -e ".[telegram]"') from None
    return BotState(_assistant().ledger.engine)


@bot_app.command("telegram")
def bot_telegram() -> None:
    """Run the Telegram bot (JIANXUE_TELEGRAM__TOKEN; polling, or a webhook when WEBHOOK_URL is set)."""
    try:
        from bots.telegram.app import run
    except ImportError:
        raise ConfigError('the Telegram bot needs its extra: pip install -c constraints.txt -e ".[telegram]"') from None
    import logging

    from assistant.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it would log every request URL, token included
    settings = load_settings()
    err.print("jianxue Telegram bot: " + ("webhook " + settings.telegram.webhook_url if settings.telegram.webhook_url
                                         else "polling") + " (Ctrl-C stops)", highlight=False)
    run(settings)


@bot_app.command("allow")
def bot_allow(
    telegram_id: Annotated[int, typer.Argument(help="The user's numeric Telegram id.", show_default=False)],
    role: Role = "learner",
    dept: Departments = None,
    user: Annotated[Optional[str], typer.Option(help="Name in progress reports (default tg:<id>).")] = None,
) -> None:
    """Admit a Telegram user (or change their role and departments)."""
    member = _bot_state().allow(telegram_id, role=role, departments=tuple(dept or ()), user=user)
    out.print(f"allowed {telegram_id} as {member.principal.user} ({role}; "
              f"{', '.join(member.principal.departments) or 'no department'})", highlight=False)


@bot_app.command("remove")
def bot_remove(telegram_id: Annotated[int, typer.Argument(help="The user's numeric Telegram id.", show_default=False)]) -> None:
    """Take a Telegram user off the allow-list at once."""
    _bot_state().remove(telegram_id)
    out.print(f"removed {telegram_id}", highlight=False)


@bot_app.command("members")
def bot_members(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Who may use the bot."""
    rows = _bot_state().members()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['telegram_id']}  {r['user']}  {r['role']}  {','.join(r['departments'])}", markup=False,
                  highlight=False)


@bot_app.command("pair")
def bot_pair(
    role: Role = "learner",
    dept: Departments = None,
    hours: Annotated[Optional[float], typer.Option(help="Valid for (default JIANXUE_TELEGRAM__PAIRING_HOURS).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"code": ...} as JSON.')] = False,
) -> None:
    """A one-time pairing code: the first Telegram user to send `/start CODE` becomes a member."""
    from assistant.config import load_settings

    valid = hours if hours is not None else load_settings().telegram.pairing_hours
    code = _bot_state().make_pairing(role=role, departments=tuple(dept or ()), hours=valid)
    if as_json:
        print_json({"code": code, "role": role, "departments": list(dept or ()), "hours": valid})
        return
    out.print(f"pairing code ({role}; {', '.join(dept or ()) or 'no department'}; valid {valid:g} h, once):",
              highlight=False)
    out.print(f"/start {code}", markup=False, highlight=False)


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
