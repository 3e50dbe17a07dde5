"""`jianxue bot`: run a messenger adapter, and administer who may use any of them — members by
their platform user id, one-time pairing codes, platform departments mapped to jianxue's. The
members live in the conversation core's store; an adapter is imported only when it runs."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Optional

import typer

from assistant.cli_common import err, out, print_json
from assistant.cli_common import load_assistant as _assistant
from assistant.errors import ConfigError

bot_app = typer.Typer(help="The messenger bots: run one, admit users, make pairing codes, map departments.",
                      no_args_is_help=True)


class Channel(StrEnum):
    telegram = "telegram"
    wecom = "wecom"
    dingtalk = "dingtalk"
    feishu = "feishu"


ChannelOption = Annotated[Channel, typer.Option("--channel", help="The messenger.")]
Departments = Annotated[Optional[list[str]], typer.Option("--dept", help="Department (repeatable).")]
Role = Annotated[str, typer.Option(help="learner, trainer or admin.")]
EXTRAS = {"telegram": "telegram", "wecom": "wecom", "dingtalk": "dingtalk", "feishu": "feishu"}


def _store():
    from assistant.conversation.store import ConversationStore

    return ConversationStore(_assistant().docstore.engine)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it would log every request URL, tokens included


def _needs(extra: str) -> ConfigError:
    return ConfigError(f'the {extra} bot needs its extra: pip install -c constraints.txt -e ".[{EXTRAS[extra]}]"')


# -- running ----------------------------------------------------------------------------------------


@bot_app.command("telegram")
def bot_telegram() -> None:
    """Run the Telegram bot (JIANXUE_TELEGRAM__TOKEN; polling, or a webhook when WEBHOOK_URL is set)."""
    try:
        from bots.telegram.app import run
    except ImportError:
        raise _needs("telegram") from None
    from assistant.config import load_settings

    _logging()
    settings = load_settings()
    err.print("jianxue Telegram bot: " + ("webhook " + settings.telegram.webhook_url if settings.telegram.webhook_url
                                         else "polling") + " (Ctrl-C stops)", highlight=False)
    run(settings)



@bot_app.command("wecom")
def bot_wecom() -> None:
    """Run the WeCom (企业微信 / 政务微信) application's callback server (JIANXUE_WECOM__*)."""
    try:
        from bots.wecom.app import check_settings, run
    except ImportError:
        raise _needs("wecom") from None
    from assistant.config import load_settings, masked_settings

    settings = load_settings()
    check_settings(settings.wecom)
    _logging()
    wecom = settings.wecom
    err.print(f"jianxue WeCom callback: http://{wecom.listen}:{wecom.port}{wecom.path}, API "
              f"{masked_settings(settings)['wecom']['api_base_url']} (Ctrl-C stops)", highlight=False, markup=False)
    run(settings)

@bot_app.command("dingtalk")
def bot_dingtalk() -> None:
    """Run the DingTalk robot in Stream mode (JIANXUE_DINGTALK__CLIENT_ID, __CLIENT_SECRET; no public URL needed)."""
    from importlib.util import find_spec

    from assistant.config import load_settings

    settings = load_settings()
    settings.dingtalk.check()  # names a missing setting before anything starts
    if find_spec("dingtalk_stream") is None:  # not imported here: the SDK reads its address at import
        raise _needs("dingtalk")
    try:
        from bots.dingtalk.runner import run
    except ImportError:
        raise _needs("dingtalk") from None
    _logging()
    err.print(f"jianxue DingTalk robot: Stream mode through {settings.dingtalk.endpoint} (Ctrl-C stops)",
              highlight=False, markup=False)
    run(settings)


@bot_app.command("feishu")
def bot_feishu() -> None:
    """Run the Feishu / Lark bot (JIANXUE_FEISHU__*; by webhook, or by long connection with MODE=ws)."""
    from importlib.util import find_spec

    from assistant.config import load_settings

    settings = load_settings()
    settings.feishu.check()  # names a missing setting before anything starts
    if find_spec("lark_oapi") is None:
        raise _needs("feishu")
    try:
        from bots.feishu.app import run
    except ImportError:
        raise _needs("feishu") from None
    _logging()
    logging.getLogger("Lark").setLevel(logging.WARNING)  # the SDK's info lines carry connection URLs
    feishu = settings.feishu
    how = (f"webhook http://{feishu.listen}:{feishu.port}{feishu.path}" if feishu.mode == "webhook"
           else "long connection")
    err.print(f"jianxue Feishu bot: {how}, open platform {feishu.base_url} (Ctrl-C stops)", highlight=False,
              markup=False)
    run(settings)


# -- members ----------------------------------------------------------------------------------------


@bot_app.command("allow")
def bot_allow(
    user_id: Annotated[str, typer.Argument(help="The user's id on the platform (Telegram's numeric id, WeCom's "
                                           "UserID, DingTalk's staffId, Feishu's open_id).", show_default=False)],
    channel: ChannelOption = Channel.telegram,
    role: Role = "learner",
    dept: Departments = None,
    user: Annotated[Optional[str], typer.Option(help="Name in progress reports (default channel:id).")] = None,
) -> None:
    """Admit a user of a messenger (or change their role, departments and name)."""
    member = _store().allow(channel.value, user_id, role=role, departments=tuple(dept or ()), user=user)
    out.print(f"allowed {channel.value} {user_id} as {member.principal.user} ({role}; "
              f"{', '.join(member.principal.departments) or 'no department'})", highlight=False)


@bot_app.command("remove")
def bot_remove(
    user_id: Annotated[str, typer.Argument(help="The user's id on the platform.", show_default=False)],
    channel: ChannelOption = Channel.telegram,
) -> None:
    """Take a user off a messenger's members at once."""
    _store().remove(channel.value, user_id)
    out.print(f"removed {channel.value} {user_id}", highlight=False)


@bot_app.command("members")
def bot_members(
    channel: Annotated[Optional[Channel], typer.Option("--channel", help="Only this messenger.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Who may use the bots."""
    rows = _store().members(channel.value if channel else None)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['channel']}  {r['platform_id']}  {r['user']}  {r['role']}  {','.join(r['departments'])}",
                  markup=False, highlight=False)


@bot_app.command("pair")
def bot_pair(
    channel: Annotated[Optional[Channel], typer.Option("--channel", help="Only in this messenger (default any).")] = None,
    role: Role = "learner",
    dept: Departments = None,
    hours: Annotated[Optional[float], typer.Option(help="Valid for (default JIANXUE_TELEGRAM__PAIRING_HOURS).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"code": ...} as JSON.')] = False,
) -> None:
    """A one-time pairing code: the first user to send `/start CODE` (or `配对 CODE`) becomes a member."""
    from assistant.config import load_settings

    valid = hours if hours is not None else load_settings().telegram.pairing_hours
    code = _store().make_pairing(role=role, departments=tuple(dept or ()), hours=valid,
                                 channel=channel.value if channel else None)
    if as_json:
        print_json({"code": code, "channel": channel.value if channel else None, "role": role,
                    "departments": list(dept or ()), "hours": valid})
        return
    out.print(f"pairing code ({role}; {', '.join(dept or ()) or 'no department'}; valid {valid:g} h, once"
              f"{'; ' + channel.value + ' only' if channel else ''}):", highlight=False)
    out.print(f"/start {code}", markup=False, highlight=False)


@bot_app.command("map-dept")
def bot_map_dept(
    platform_department: Annotated[str, typer.Argument(help="The department's id on the platform.",
                                                       show_default=False)],
    department: Annotated[Optional[str], typer.Argument(help="The jianxue department it is (omit with --remove).",
                                                        show_default=False)] = None,
    channel: ChannelOption = Channel.wecom,
    remove: Annotated[bool, typer.Option("--remove", help="Forget this mapping.")] = False,
) -> None:
    """Map a platform department to a jianxue department: members in mapped platform departments
    read what those jianxue departments may read, following the organisation's directory."""
    store = _store()
    if remove:
        store.unmap_department(channel.value, platform_department)
        out.print(f"{channel.value} department {platform_department} no longer mapped", highlight=False)
        return
    if not department or not department.strip():
        raise ConfigError("name the jianxue department, e.g. jianxue bot map-dept --channel wecom 12 第一检察部")
    store.map_department(channel.value, platform_department, department.strip())
    out.print(f"{channel.value} department {platform_department} -> {department.strip()}", highlight=False)


@bot_app.command("departments")
def bot_departments(
    channel: Annotated[Optional[Channel], typer.Option("--channel", help="Only this messenger.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The platform departments mapped to jianxue departments."""
    rows = _store().department_maps(channel.value if channel else None)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['channel']}  {r['platform_department']} -> {r['department']}", markup=False, highlight=False)
