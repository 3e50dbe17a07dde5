"""`jianxue quiz` (make, take, publish, export) and `jianxue progress`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli_common import AsDept, out
from assistant.cli_common import load_assistant as _assistant
from assistant.cli_common import principal as _principal
from assistant.cli_common import print_json as _print_json
from assistant.models import Line, Principal

quiz_app = typer.Typer(help="Case-based quizzes: make one (no subcommand), take, publish or export it.")
LETTERS = "ABCDEF"


@quiz_app.callback(invoke_without_command=True)
def quiz(
    ctx: typer.Context,
    topic: Annotated[Optional[str], typer.Option(help="A topic to search for (正当防卫, 认罪认罚 …).")] = None,
    case: Annotated[Optional[str], typer.Option(help="One case: its number (检例第45号), title or id.")] = None,
    line: Annotated[Optional[Line], typer.Option(help="Only material of this prosecution line.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=50, help="How many questions.")] = 5,
    as_dept: AsDept = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the quiz as JSON.")] = False,
) -> None:
    """Make a draft quiz of N questions from cases and provisions, each with its cited source."""
    if ctx.invoked_subcommand is not None:
        return
    assistant = _assistant()
    made = assistant.quizzes.make(principal=_principal(as_dept), topic=topic, case=case,
                               line=line.value if line else None, n=n)
    if as_json:
        _print_json(made.to_dict())
        return
    out.print(f"[bold]{made.title}[/]  id {made.id} · {made.status}", highlight=False)
    for i, q in enumerate(made.questions, start=1):
        _print_question(i, q)
        out.print(f"    答案：{'、'.join(LETTERS[j] for j in q.answer)}　出处：{q.citations[0].label}", markup=False,
                  highlight=False)
    out.print(f"take it: jianxue quiz take {made.id} · export: jianxue quiz export {made.id} --format md --out quiz.md",
              markup=False, highlight=False)


def _print_question(i: int, q) -> None:
    kind = {"single": "单选", "multi": "多选", "true_false": "判断", "case_analysis": "案例分析"}[q.type.value]
    out.print(f"\n{i}. （{kind}）{q.stem}", markup=False, highlight=False)
    for j, option in enumerate(q.options):
        out.print(f"   {LETTERS[j]}. {option}", markup=False, highlight=False)


@quiz_app.command("take")
def quiz_take(
    quiz_id: Annotated[str, typer.Argument(help="The quiz id.", show_default=False)],
    user: Annotated[str, typer.Option(help="Who is taking it (recorded with each answer).")] = "local",
    as_dept: AsDept = None,
) -> None:
    """Take a quiz in the terminal: answer with letters (A, or AC for several); each answer is
    graded, recorded and scheduled for review."""
    assistant = _assistant()
    # the operator sees every quiz; --as-dept takes it as a learner of those departments would
    principal = (Principal(user=user, role="learner", departments=tuple(as_dept)) if as_dept
                 else Principal(user=user, role="admin", sees_everything=True))
    taken = assistant.quizzes.get(quiz_id, principal=principal)
    score = 0
    for i, q in enumerate(taken.questions, start=1):
        _print_question(i, q)
        while True:
            try:
                raw = input("答> ").strip().upper().replace(",", "").replace("，", "").replace(" ", "")
            except EOFError:
                out.print(f"\nstopped: {score} of {i - 1} correct")
                return
            chosen = sorted({LETTERS.index(ch) for ch in raw if ch in LETTERS[: len(q.options)]})
            if chosen and len(chosen) == len(raw):
                break
            out.print(f"   answer with letters A-{LETTERS[len(q.options) - 1]}", highlight=False)
        grade = assistant.quizzes.grade(q.id, chosen, principal=principal, quiz_id=taken.id)
        score += grade.correct
        verdict = "[green]正确[/]" if grade.correct else f"[red]错误[/]，正确答案 {'、'.join(LETTERS[j] for j in q.answer)}"
        out.print(f"   {verdict}")
        out.print(f"   {q.explanation}", markup=False, highlight=False)
    dept = "".join(f" --dept {d}" for d in as_dept or ())
    out.print(f"\n{score} / {len(taken.questions)} correct · progress: jianxue progress --user {user}{dept}",
              highlight=False)


@quiz_app.command("publish")
def quiz_publish(quiz_id: Annotated[str, typer.Argument(help="The quiz id.", show_default=False)]) -> None:
    """Mark a reviewed quiz as published (its questions are then watched for changed sources)."""
    published = _assistant().quizzes.publish(quiz_id, principal=Principal.local_admin())
    out.print(f"published {published.id}: {len(published.questions)} questions", highlight=False)


@quiz_app.command("export")
def quiz_export(
    quiz_id: Annotated[str, typer.Argument(help="The quiz id.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="gift, moodle, anki, json or md.")] = "md",
    out_path: Annotated[Path, typer.Option("--out", help="File to write.")] = Path("quiz.md"),
) -> None:
    """Export a quiz: GIFT or Moodle XML (Moodle), Anki .apkg, JSON, or a Markdown handout."""
    data = _assistant().quizzes.export(quiz_id, fmt, principal=Principal.local_admin())
    out_path.write_bytes(data)
    out.print(f"wrote {out_path} ({len(data)} bytes, {fmt})", highlight=False)


def progress(
    user: Annotated[str, typer.Option(help="The learner's user name.")] = "local",
    dept: Annotated[Optional[list[str]], typer.Option(
        help="The learner's department(s): a user name is one learner within their departments (repeatable).")] = None,
    group: Annotated[Optional[str], typer.Option(help="A trainer's view of this department instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """A learner's mastery by topic and line and due reviews, or (--group) a trainer's view of a group."""
    quizzes = _assistant().quizzes
    if group is not None:
        data = quizzes.group(group, principal=Principal.local_admin())
    else:
        data = quizzes.progress(principal=Principal(user=user, role="learner", departments=tuple(dept or ())))
    if as_json:
        _print_json(data)
        return
    if group is not None:
        out.print(f"group {group}: {len(data['learners'])} learners", highlight=False)
        for row in data["learners"]:
            out.print(f"  {row['user']}: {row['correct']}/{row['attempts']} ({row['score']:.0%})", highlight=False)
        for t in data["weakest_topics"][:5]:
            out.print(f"  weak: {t['topic']} ({t['line']}) mastery {t['mastery']:.2f}", markup=False, highlight=False)
        return
    out.print(f"{user}: {data['correct']}/{data['attempts']} correct · {data['due']} reviews due", highlight=False)
    for t in data["topics"]:
        out.print(f"  {t['topic']} ({t['line']}): mastery {t['mastery']:.2f} · {t['correct']}/{t['attempts']}",
                  markup=False, highlight=False)
