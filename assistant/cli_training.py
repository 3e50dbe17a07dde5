"""`jianxue assign`, `assignments`, `daily`, `mistakes`, `focus`, `hours` and `exam`: training
from the operator's console (the operator is an admin; --user/--dept name the learner)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli_common import err, out
from assistant.cli_common import load_assistant as _assistant
from assistant.cli_common import print_json as _print_json
from assistant.errors import InvalidRequest
from assistant.models import Principal

assignments_app = typer.Typer(help="Assignments (训练任务): list them, or one's completion and scores.",
                              no_args_is_help=True)
LETTERS = "ABCDEFGHIJKL"
Dept = Annotated[Optional[list[str]], typer.Option("--dept", help="Department (repeatable).")]
Json = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


def learner(user: str, dept: list[str] | None) -> Principal:
    return Principal(user=user, role="learner", departments=tuple(dept or ()))


def assign(
    quiz_id: Annotated[Optional[str], typer.Argument(help="A published quiz's id.", show_default=False)] = None,
    exam: Annotated[Optional[str], typer.Option(help="Assign this mock exam instead of a quiz.")] = None,
    case: Annotated[Optional[list[str]], typer.Option(
        "--case", help="Assign a set of cases instead (repeatable): three questions on each, published.")] = None,
    dept: Dept = None,
    user: Annotated[Optional[list[str]], typer.Option("--user", help="Only these learners (repeatable).")] = None,
    due: Annotated[str, typer.Option(help="Deadline: a date (its end) or a date and time.")] = "",
    start: Annotated[Optional[str], typer.Option(help="When it opens (default now).")] = None,
    hours: Annotated[float, typer.Option(help="学时 credited on completion by the deadline.")] = 0.0,
    title: Annotated[Optional[str], typer.Option(help="A title (default the quiz's).")] = None,
    as_json: Json = False,
) -> None:
    """Assign a published quiz or a mock exam to departments or named learners, with a deadline."""
    if not due:
        raise InvalidRequest("give the deadline: --due 2027-01-15")
    made = _assistant().training.assignments.assign(
        principal=Principal.local_admin(), quiz_id=quiz_id, exam_id=exam, cases=case or (),
        departments=dept or (),
        users=user or (), due=due, starts=start, hours=hours, title=title)
    if as_json:
        _print_json(made)
        return
    named = " " + "、".join(made["users"]) if made["users"] else ""
    out.print(f"assignment {made['id']}: {made['title']} → {'、'.join(made['departments'] or ['全部'])}{named}"
              f" · due {made['due_at']} · {made['hours']:g} 学时",
              markup=False, highlight=False)


@assignments_app.command("status")
def assignments_status(assignment_id: Annotated[int, typer.Argument(help="The assignment's id.")],
                       as_json: Json = False) -> None:
    """Completion and scores per learner and per department."""
    data = _assistant().training.assignments.status(assignment_id, principal=Principal.local_admin())
    if as_json:
        _print_json(data)
        return
    out.print(f"{data['title']}: {data['completed']}/{data['targeted']} completed · due {data['due_at']}",
              markup=False, highlight=False)
    for d in data["departments_status"]:
        score = "—" if d["mean_score"] is None else f"{d['mean_score']:.0%}"
        out.print(f"  {d['department']}: {d['completed']}/{d['learners']} · mean score {score}", markup=False,
                  highlight=False)
    for p in data["learners"]:
        state = ("迟交 " if p["late"] else "") + (f"完成 {p['score']:.0%}" if p["completed"]
                                                  else f"{p['answered']}/{p['total']}")
        out.print(f"    {p['user']} ({'、'.join(p['departments'])}): {state}", markup=False, highlight=False)


@assignments_app.command("list")
def assignments_list(dept: Dept = None, as_json: Json = False) -> None:
    """Recent assignments with their completion."""
    data = _assistant().training.assignments.listing(principal=Principal.local_admin(), departments=dept)
    if as_json:
        _print_json(data)
        return
    for a in data:
        out.print(f"{a['id']}  {a['title']} · {a['completed']}/{a['targeted']} · due {a['due_at']}", markup=False,
                  highlight=False)


def mistakes(
    user: Annotated[str, typer.Option(help="The learner's user name.")] = "local",
    dept: Dept = None,
    topic: Annotated[Optional[str], typer.Option(help="Only this topic.")] = None,
    line: Annotated[Optional[str], typer.Option(help="Only this line (criminal, civil …).")] = None,
    redo: Annotated[bool, typer.Option(help="Answer them again here.")] = False,
    as_json: Json = False,
) -> None:
    """The 错题本: every wrong answer with the choice, the key, the explanation and its citation."""
    practice = _assistant().training.practice
    principal = learner(user, dept)
    items = practice.mistakes(principal=principal, topic=topic, line=line)
    if as_json:
        _print_json(items)
        return
    if not items:
        out.print("错题本是空的。")
        return
    for i, m in enumerate(items, 1):
        out.print(f"\n{i}. {m['stem']}", markup=False, highlight=False)
        for j, option in enumerate(m["options"]):
            out.print(f"   {LETTERS[j]}. {option}", markup=False, highlight=False)
        if redo:
            chosen = _read_letters(len(m["options"]))
            if chosen is None:
                return
            result = practice.redo(m["question_id"], chosen, principal=principal)
            moved = "" if result["in_notebook"] else "，已移出错题本"
            out.print("   正确" + moved if result["correct"] else "   错误", highlight=False)
            continue
        out.print(f"   你的答案 {_letters(m['chosen'])} · 正确答案 {_letters(m['answer'])} · 错 {m['wrong']} 次",
                  markup=False, highlight=False)
        out.print(f"   {m['explanation']}", markup=False, highlight=False)
        if m["citations"]:
            out.print(f"   出处：{m['citations'][0]['label']}", markup=False, highlight=False)


def daily(user: Annotated[str, typer.Option(help="The learner's user name.")] = "local", dept: Dept = None,
          as_json: Json = False) -> None:
    """Today's 每日一练 for a learner, taken in the terminal (answers are graded and recorded)."""
    assistant = _assistant()
    principal = learner(user, dept)
    today = assistant.training.practice.daily(principal=principal)
    if as_json:
        _print_json({**today, "questions": [assistant.quizzes.question_view(q, principal=principal)
                                            for q in today["questions"]]})
        return
    out.print(f"每日一练 {today['day']}：{len(today['questions'])} 题", highlight=False)
    for i, q in enumerate(today["questions"], 1):
        out.print(f"\n{i}. {q.stem}", markup=False, highlight=False)
        for j, option in enumerate(q.options):
            out.print(f"   {LETTERS[j]}. {option}", markup=False, highlight=False)
        if q.id in today["answered"]:
            out.print("   (已答)")
            continue
        chosen = _read_letters(len(q.options))
        if chosen is None:
            return
        grade = assistant.quizzes.grade(q.id, chosen, principal=principal)
        out.print("   正确" if grade.correct else f"   错误，正确答案 {_letters(q.answer)}", highlight=False)


def focus(topics: Annotated[list[str], typer.Argument(help="Topics (正当防卫 …).", show_default=False)],
          dept: Annotated[str, typer.Option("--dept", help="The department.")],
          month: Annotated[Optional[str], typer.Option(help="The month, 2027-01 (default this one).")] = None) -> None:
    """Set a department's focus topics for the month (daily sets draw on them)."""
    done = _assistant().training.practice.set_focus(principal=Principal.local_admin(), department=dept, topics=topics,
                                                    month=month)
    out.print(f"{done['department']} {done['month']}: {'、'.join(done['topics'])}", markup=False, highlight=False)


def hours(
    user: Annotated[Optional[str], typer.Option(help="One learner's 学时 (with --dept for their departments).")] = None,
    dept: Dept = None,
    year: Annotated[int, typer.Option(help="The year.")] = date.today().year,
    export: Annotated[Optional[Path], typer.Option(help="Write a department's rows to FILE.xlsx or FILE.csv.")] = None,
    as_json: Json = False,
) -> None:
    """学时: a learner's activities and total, or (--dept) one row per learner of a department."""
    from assistant.training.hours import to_csv, to_xlsx

    training = _assistant().training
    if user is not None:
        data = training.hours.mine(principal=learner(user, dept), year=year)
        if as_json:
            _print_json(data)
            return
        out.print(f"{user} {year}: {data['total']:g} 学时", highlight=False)
        for a in data["activities"]:
            out.print(f"  {a['at'][:10]} {a['name']}「{a['title']}」{a['hours']:g}", markup=False, highlight=False)
        return
    if not dept:
        raise InvalidRequest("give --user U, or --dept D for a department")
    rows = training.hours.department(principal=Principal.local_admin(), department=dept[0], year=year)
    if export is not None:
        if export.suffix.lower() not in (".xlsx", ".csv"):
            raise InvalidRequest("export to a .xlsx or .csv file")
        export.write_bytes(to_xlsx(rows) if export.suffix.lower() == ".xlsx" else to_csv(rows))
        err.print(f"wrote {export} ({len(rows)} learners)", highlight=False)
    if as_json:
        _print_json(rows)
    elif export is None:
        for r in rows:
            out.print(f"{r['user']}: {r['total']:g} 学时 · {r['activities']}", markup=False, highlight=False)


def _letters(indexes) -> str:
    return "、".join(LETTERS[i] for i in indexes) or "—"


def _read_letters(n: int) -> list[int] | None:
    while True:
        try:
            raw = input("答> ").strip().upper().replace(",", "").replace("，", "").replace(" ", "")
        except EOFError:
            return None
        chosen = sorted({LETTERS.index(ch) for ch in raw if ch in LETTERS[:n]})
        if chosen and len(chosen) == len(raw):
            return chosen
        out.print(f"   answer with letters A-{LETTERS[n - 1]}", highlight=False)


exam_app = typer.Typer(help="Mock exams (模拟考试): make a paper from a blueprint, take it.", no_args_is_help=True)


@exam_app.command("make")
def exam_make(blueprint: Annotated[Path, typer.Option(help="The blueprint, YAML or JSON.", exists=True,
                                                      dir_okay=False)],
              seed: Annotated[int, typer.Option(help="The same seed makes the same paper.")] = 1,
              as_json: Json = False) -> None:
    """Build a paper from published questions: per section a line, a topic, a difficulty and a count."""
    import yaml

    try:
        data = yaml.safe_load(blueprint.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{blueprint}: not YAML ({exc.__class__.__name__})") from None
    exam = _assistant().training.exams.make(data, seed=seed, principal=Principal.local_admin())
    if as_json:
        _print_json(exam)
        return
    out.print(f"exam {exam['id']}: {exam['title']} · {len(exam['questions'])} questions · "
              f"{exam['time_limit_s'] // 60} min · {exam['hours']:g} 学时", markup=False, highlight=False)
    out.print(f"take it: jianxue exam take {exam['id']} --user zhang --dept 第一检察部", markup=False, highlight=False)


@exam_app.command("take")
def exam_take(exam_id: Annotated[str, typer.Argument(help="The exam's id.", show_default=False)],
              user: Annotated[str, typer.Option(help="The learner's user name.")] = "local", dept: Dept = None) -> None:
    """Take a mock exam within its time limit (kept by the server); answers after it are not counted."""
    exams = _assistant().training.exams
    principal = learner(user, dept)
    paper = exams.start(exam_id, principal=principal)
    out.print(f"{paper['title']}: {len(paper['questions'])} 题 · {paper['seconds_left'] // 60} 分钟", highlight=False)
    for i, q in enumerate(paper["questions"], 1):
        if q["id"] in paper["answered"]:
            continue
        out.print(f"\n{i}. {q['stem']}", markup=False, highlight=False)
        for j, option in enumerate(q["options"]):
            out.print(f"   {LETTERS[j]}. {option}", markup=False, highlight=False)
        chosen = _read_letters(len(q["options"]))
        if chosen is None:
            break
        given = exams.answer(exam_id, q["id"], chosen, principal=principal)
        if not given["counted"]:
            out.print("   时间已到：此答案不计分。", highlight=False)
            break
    report = exams.submit(exam_id, principal=principal)
    out.print(f"\n{report['correct']} / {report['questions']} · {report['score']:.0%}", highlight=False)
    for t in report["topics"]:
        out.print(f"  {t['topic']} ({t['line']}): {t['correct']}/{t['questions']}", markup=False, highlight=False)
