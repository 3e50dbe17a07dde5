"""`jianxue escalate`, `jianxue experts …` and `jianxue feedback`: the expert pool from the command
line. The operator acts as an admin (sees everything); ``--as USER`` acts as that expert, with
the departments the pool records for them; ``--user`` and ``--as-dept`` say who escalates."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from assistant.cli_common import AsDept, out, print_json
from assistant.cli_common import load_assistant as _assistant
from assistant.errors import UnverifiedAnswer
from assistant.experts.pool import Asked
from assistant.models import Line, Principal

experts_app = typer.Typer(help="The expert pool: who answers which line, the queue, answers, publishing.",
                          no_args_is_help=True)

AsExpert = Annotated[str, typer.Option("--as", help="The expert acting (a user in the pool).")]
Json = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
QuestionId = Annotated[int, typer.Argument(help="The question's id (from the queue).", show_default=False)]


def _show(data, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    for item in data if isinstance(data, list) else [data]:
        if "text" in item and "id" in item:
            who = item["asker"] or item["asker_departments"]
            out.print(f"#{item['id']} [{item['status']}] {item['line']} · {who}: {item['text']}", markup=False,
                      highlight=False)
            if item.get("answer"):
                out.print(f"    答：{item['answer']}" + (f"  ({item['label']})" if item.get("label") else ""),
                          markup=False, highlight=False)
            for p in item.get("passages", []):
                out.print(f"    [{p['n']}] {p['label']}：{p['text'][:120]}", markup=False, highlight=False)
        else:
            out.print(str(item), markup=False, highlight=False)


def escalate(
    question: Annotated[str, typer.Argument(help="The question for the experts.", show_default=False)],
    user: Annotated[str, typer.Option(help="Who asks.")] = "cli",
    line: Annotated[Line, typer.Option(help="The prosecution line whose experts should answer.")] = Line.general,
    as_dept: AsDept = None,
    comment: Annotated[Optional[str], typer.Option(help="Why jianxue's answer was not enough (不满意).")] = None,
    show_identity: Annotated[bool, typer.Option(
        "--show-identity", help="Let experts see the asker's name (default: only the department).")] = False,
    restricted: Annotated[bool, typer.Option(
        "--restricted", help="Only experts of the asker's departments may see the question.")] = False,
    as_json: Json = False,
) -> None:
    """Send a question the materials do not answer (or whose answer was not enough) to the experts of its line."""
    assistant = _assistant()
    principal = Principal(user=user, role="learner", departments=tuple(as_dept or ()))
    found = assistant.ask(question, principal=principal, lines=())
    view = assistant.experts.escalate(
        question, principal=principal, line=line.value, found={"text": found.text,
                                                               "citations": [c.to_dict() for c in found.citations]},
        reason="declined" if found.refused else "unsatisfied", comment=comment, show_identity=show_identity,
        restricted=restricted, asked=Asked("cli"))
    if as_json:
        print_json(view)
        return
    linked = f" (linked to #{view['linked_to']})" if view["linked_to"] else ""
    out.print(f"question #{view['id']} sent to the {line.value} experts{linked}", highlight=False)
    if view.get("answer"):
        out.print(f"already answered: {view['answer']}", markup=False, highlight=False)


@experts_app.command("add")
def experts_add(
    user: Annotated[str, typer.Option(help="The expert's user name (as in their API key or messenger membership).")],
    line: Annotated[list[Line], typer.Option(help="A line they answer for (repeatable).")],
    dept: Annotated[Optional[list[str]], typer.Option("--dept", help="Their department (repeatable).")] = None,
    as_json: Json = False,
) -> None:
    """Add an expert to the pool (or change their lines and departments)."""
    pool = _assistant().experts
    pool.add_expert(user, [x.value for x in line], dept or ())
    _show(next(e for e in pool.experts() if e["user"] == user), as_json)


@experts_app.command("list")
def experts_list(as_json: Json = False) -> None:
    """The experts, their lines and departments."""
    _show(_assistant().experts.experts(), as_json)


@experts_app.command("remove")
def experts_remove(user: Annotated[str, typer.Argument(help="The expert's user name.", show_default=False)]) -> None:
    """Take an expert out of the pool (questions they answered stay answered)."""
    _assistant().experts.remove_expert(user)
    out.print(f"removed {user}", highlight=False)


@experts_app.command("queue")
def experts_queue(
    as_user: Annotated[Optional[str], typer.Option(
        "--as", help="The expert whose queue (default: every line).")] = None,
    status: Annotated[str, typer.Option(help="open, claimed, answered, published, withdrawn or linked.")] = "open",
    as_json: Json = False,
) -> None:
    """Questions waiting for the experts of one's lines (restricted ones only where one's departments allow)."""
    assistant = _assistant()
    principal = assistant.experts.expert_principal(as_user) if as_user else Principal.local_admin()
    _show(assistant.experts.list(principal, status=status), as_json)


@experts_app.command("show")
def experts_show(question_id: QuestionId, as_user: AsExpert, as_json: Json = False) -> None:
    """One question; with its numbered passages if you have claimed it."""
    pool = _assistant().experts
    principal = pool.expert_principal(as_user)
    row = pool.get(question_id, principal)
    _show(pool.work(question_id, principal) if row["claimed_by"] == as_user else row, as_json)


@experts_app.command("claim")
def experts_claim(question_id: QuestionId, as_user: AsExpert, as_json: Json = False) -> None:
    """Claim an open question; shows the passages your answer's [n] refer to."""
    pool = _assistant().experts
    _show(pool.claim(question_id, pool.expert_principal(as_user)), as_json)


@experts_app.command("draft")
def experts_draft(question_id: QuestionId, as_user: AsExpert,
                  text: Annotated[str, typer.Option(help="The draft so far.")], as_json: Json = False) -> None:
    """Save a draft of the answer (kept across restarts, sent only with `experts answer`)."""
    pool = _assistant().experts
    _show(pool.save_draft(question_id, pool.expert_principal(as_user), text), as_json)


@experts_app.command("answer")
def experts_answer(question_id: QuestionId, as_user: AsExpert,
                   text: Annotated[str, typer.Option(help="The answer; mark each claim with its passage's [n].")],
                   as_json: Json = False) -> None:
    """Send the answer (claiming first if it is still open). It is checked like a model's: an
    unverifiable claim is listed and nothing is sent (exit status 2)."""
    pool = _assistant().experts
    principal = pool.expert_principal(as_user)
    if pool.get(question_id, principal)["status"] == "open":
        pool.claim(question_id, principal)
    try:
        view = pool.answer(question_id, principal, text)
    except UnverifiedAnswer as exc:
        if as_json:
            print_json({"error": {"code": exc.code, "message": str(exc), "problems": exc.problems}})
        else:
            out.print(str(exc), markup=False, highlight=False)
        sys.exit(2)
    _show(view, as_json)


@experts_app.command("release")
def experts_release(question_id: QuestionId,
                    as_user: Annotated[Optional[str], typer.Option("--as", help="The expert giving it back.")] = None,
                    to: Annotated[Optional[str], typer.Option(help="Reassign to this expert at once.")] = None,
                    as_json: Json = False) -> None:
    """Give a claimed question back to the queue, or (operator) reassign it to another expert."""
    pool = _assistant().experts
    principal = pool.expert_principal(as_user) if as_user else Principal.local_admin()
    _show(pool.release(question_id, principal, to=to), as_json)


@experts_app.command("publish")
def experts_publish(question_id: QuestionId,
                    access: Annotated[Optional[list[str]], typer.Option(
                        "--access", help="Departments that may read it (repeatable); default as the question.")] = None,
                    as_json: Json = False) -> None:
    """Publish a reviewed answer as material (kind qa, cited 检答·第N号), searchable at once."""
    _show(_assistant().review.publish(question_id, Principal.local_admin(), access=access), as_json)


@experts_app.command("edit")
def experts_edit(question_id: QuestionId, text: Annotated[str, typer.Option(help="The corrected answer.")],
                 as_json: Json = False) -> None:
    """Correct an answer (checked again); a published one is replaced everywhere."""
    _show(_assistant().review.edit(question_id, Principal.local_admin(), text), as_json)


@experts_app.command("withdraw")
def experts_withdraw(question_id: QuestionId, as_json: Json = False) -> None:
    """Take a published answer out of the materials."""
    _show(_assistant().review.withdraw(question_id, Principal.local_admin()), as_json)


@experts_app.command("stats")
def experts_stats(as_json: Json = False) -> None:
    """Each expert's load and each line's open questions and median hours to answer."""
    _show(_assistant().review.stats(Principal.local_admin()), as_json)


@experts_app.command("remind")
def experts_remind(as_json: Json = False) -> None:
    """Remind experts of questions unclaimed for longer than JIANXUE_EXPERTS__REMIND_AFTER_HOURS (the bots do it
    on their own)."""
    _show({"reminded": _assistant().experts.reminders()}, as_json)


def feedback(since: Annotated[str, typer.Option(help="How far back: 7d, 24h, 2w.")] = "7d",
             as_json: Json = False) -> None:
    """Votes (赞/踩) on answers since a time ago, every 踩 with its comment."""
    data = _assistant().review.feedback(Principal.local_admin(), since=since)
    if as_json:
        print_json(data)
        return
    out.print(f"{data['votes']} votes since {since}: 赞 {data['up']} · 踩 {data['down']}", highlight=False)
    for item in data["items"]:
        if item["vote"] < 0:
            out.print(f"  踩 {item['question']} — {item['comment'] or ''}", markup=False, highlight=False)
