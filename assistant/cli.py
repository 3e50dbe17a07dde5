"""The `jianxue` command line. Thin: parse, call the Assistant, print."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from assistant.cli_bots import bot_app
from assistant.cli_common import AsDept, LineOption, err, out
from assistant.cli_common import load_assistant as _assistant
from assistant.cli_common import principal as _principal
from assistant.cli_common import print_json as _print_json
from assistant.cli_experts import escalate, experts_app, feedback
from assistant.cli_quiz import progress, quiz_app
from assistant.cli_services import doctor, keys_app, serve
from assistant.cli_training import assign, assignments_app, daily, exam_app, focus, hours, mistakes
from assistant.config import load_settings, masked_settings
from assistant.errors import JianxueError
from assistant.ingest.loaders import LoadOptions, walk
from assistant.models import Kind, Line, Principal

app = typer.Typer(
    name="jianxue",
    help="检学 jianxue — cited answers and quizzes over statutes, interpretations and cases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for name, sub_app in (("keys", keys_app), ("bot", bot_app)):
    app.add_typer(sub_app, name=name)
app.add_typer(quiz_app, name="quiz")
app.add_typer(experts_app, name="experts")
app.add_typer(assignments_app, name="assignments")
app.add_typer(exam_app, name="exam")
for command in (assign, daily, mistakes, focus, hours):
    app.command()(command)
app.command()(escalate)
app.command()(feedback)
app.command()(progress)
app.command()(serve)
app.command()(doctor)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", show_default=False)],
    kind: Annotated[Optional[Kind], typer.Option(help="Kind for files whose front matter does not say.")] = None,
    line: Annotated[Optional[Line], typer.Option(help="Prosecution line for files that do not say.")] = None,
    access: Annotated[Optional[list[str]], typer.Option(
        "--access", help="Department allowed to see these files (repeat for several); default everyone.")] = None,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files under PATHS are gone.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Load files into the index; re-runs only embed what changed."""
    assistant = _assistant()
    options = LoadOptions(kind=kind, line=line, access=tuple(access) if access else None)
    files = sum(1 for _ in walk([p for p in paths if p.exists()]))
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                  TextColumn("· {task.fields[embedded]} chunks embedded"), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("ingest", total=files, embedded=0)

        def progress(event: str, n: int) -> None:
            if event == "file":
                bar.advance(task, n)
            elif event == "embedded":
                bar.update(task, embedded=bar.tasks[0].fields["embedded"] + n)

        report = assistant.ingest(paths, options=options, prune=prune, progress=progress)
    if as_json:
        _print_json(report.to_dict())
        return
    summary = report.to_dict()
    out.print(
        f"documents: {summary['added']} added, {summary['updated']} updated, {summary['unchanged']} unchanged, "
        f"{summary['removed']} removed, {len(summary['skipped'])} skipped · chunks {summary['chunks']} · "
        f"embedded {summary['embedded']} · {summary['seconds']:.1f} s"
    )
    for skipped in summary["skipped"]:
        out.print(f"  skipped {skipped['path']}: {skipped['reason']}", markup=False, highlight=False)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Documents and chunks in the index, by kind and by line."""
    data = _assistant().stats()
    if as_json:
        _print_json(data)
        return
    out.print(f"{data['documents']} documents, {data['chunks']} chunks · embedder {data['embedder']} · "
              f"data in {data['data_dir']}")
    if data["unfinished"]:
        out.print(f"[yellow]{data['unfinished']} documents from an interrupted ingest: run the same ingest again[/]")
    for title, key in (("kind", "by_kind"), ("line", "by_line")):
        table = Table(title=f"by {title}", show_edge=False)
        for column in (title, "documents", "chunks"):
            table.add_column(column, justify="left" if column == title else "right")
        for name, row in data[key].items():
            table.add_row(name, str(row["documents"]), str(row["chunks"]))
        out.print(table)


@app.command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="What to look for, in plain Chinese.", show_default=False)] = None,
    k: Annotated[Optional[int], typer.Option("--k", min=1, max=100, help="How many hits.")] = None,
    kind: Annotated[Optional[list[Kind]], typer.Option(help="Only these kinds (repeatable).")] = None,
    line: Annotated[Optional[list[Line]], typer.Option(help="Only these lines (repeatable).")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only documents with one of these tags (repeatable).")] = None,
    as_dept: Annotated[Optional[list[str]], typer.Option(
        "--as-dept", help="Search as a member of this department (repeatable); default sees everything.")] = None,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Only versions in force on this date (YYYY-MM-DD), where the date is known.")] = None,
    queries: Annotated[Optional[Path], typer.Option(
        "--queries", help="A JSONL file of {qid, query} lines: answer them all in one process (JSON lines out).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid (default), keyword or vector.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Search the index (keywords + vectors + article references) and show passages with citations."""
    if (query is None) == (queries is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    if mode not in ("hybrid", "keyword", "vector"):
        raise typer.BadParameter("--mode must be hybrid, keyword or vector")
    principal = _principal(as_dept)
    assistant = _assistant()
    if as_of is not None and not re.fullmatch(r"\d{4}(-\d{2}){0,2}", as_of):
        raise typer.BadParameter("--as-of takes a date such as 2021-03-01")
    narrowing = dict(k=k, kinds=tuple(x.value for x in kind or ()), lines=tuple(x.value for x in line or ()),
                     tags=tuple(tag or ()), as_of=as_of, mode=mode)
    if queries is not None:
        for qid, text in _read_queries(queries):
            hits = assistant.search(text, principal=principal, **narrowing)
            _print_json({"qid": qid, "query": text, "hits": [h.to_dict() for h in hits]})
        return
    hits = assistant.search(query, principal=principal, **narrowing)
    if as_json:
        _print_json({"query": query, "hits": [h.to_dict() for h in hits]})
        return
    if not hits:
        out.print("no matching passages")
    for hit in hits:
        c = hit.chunk
        out.print(f"[bold]{hit.rank:>2}. {c.citation}[/]  [dim]{hit.score:.3f} · {c.kind.value} · {c.line.value}[/]")
        text = c.text.replace("\n", " ")
        out.print("    " + (text[:160] + "…" if len(text) > 160 else text), markup=False, highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain Chinese.", show_default=False)],
    as_dept: AsDept = None,
    line: LineOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and its citations as JSON.")] = False,
) -> None:
    """Answer a question from the materials, every sentence with its source [n]."""
    assistant = _assistant()
    lines = tuple(x.value for x in line or ())
    if as_json:
        _print_json(assistant.ask(question, principal=_principal(as_dept), lines=lines).to_dict())
        return
    _show(_stream(assistant, question, principal=_principal(as_dept), history=(), lines=lines))


@app.command()
def chat(as_dept: AsDept = None, line: LineOption = None) -> None:
    """An interactive session: follow-up questions keep the context; /sources shows the whole
    passages the last answer quotes, /new starts over, /quit (or Ctrl-D) leaves."""
    assistant = _assistant()
    principal, lines = _principal(as_dept), tuple(x.value for x in line or ())
    keep = assistant.settings.answer.history_turns
    history, last = [], None
    out.print("检学 jianxue — 输入问题；/sources 查看引文原文，/new 重新开始，/quit 退出。", highlight=False)
    while True:
        try:
            question = input("问> ").strip()
        except EOFError:
            out.print()
            return
        if not question:
            continue
        if question in ("/quit", "/exit", "/q"):
            return
        if question == "/new":
            history, last = [], None
            out.print("（已开始新的对话）", highlight=False)
            continue
        if question == "/sources":
            if last is None or not last.citations:
                out.print("（还没有可显示的引文）", highlight=False)
            for c in last.citations if last else ():
                out.print(f"[{c.n}] {c.label}  {c.title}", markup=False, highlight=False)
                out.print(f"    “{c.passage or c.quote}”", markup=False, highlight=False)
            continue
        last = _show(_stream(assistant, question, principal=principal, history=history, lines=lines))
        history = ([*history, last.turn()])[-keep:] if keep else []


def _stream(assistant, question: str, **kwargs):
    """Print the answer as it streams; returns the final Answer."""
    import asyncio

    async def run():
        final = None
        async for event in assistant.ask_stream(question, **kwargs):
            if event["type"] == "delta":
                out.print(event["text"], end="", markup=False, highlight=False)
            elif event["type"] == "reset":
                out.print()
            else:
                final = event["answer"]
        return final

    return asyncio.run(run())


def _show(answer):
    out.print()
    if answer.citations:
        out.print("[dim]来源：[/]")
        for c in answer.citations:
            out.print(f"  [{c.n}] {c.label}" + (f" · {c.title}" if c.title and c.title not in c.label else ""),
                      markup=False, highlight=False)
    if not answer.grounded:
        out.print("[yellow]部分内容未能在资料中核实，请以引文原文为准。[/]")
    return answer


def _read_queries(path: Path):
    from assistant.errors import CorpusError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            yield str(row["qid"]), str(row["query"])
        except (ValueError, KeyError, TypeError):
            raise CorpusError(f"{path}:{number}: each line must be a JSON object with 'qid' and 'query'") from None


@app.command()
def learn(
    paths: Annotated[list[Path], typer.Argument(help="JSONL files of labelled examples.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Learn citation hints from labelled examples (question or facts -> the articles they need)."""
    summary = _assistant().learn(paths)
    if as_json:
        _print_json(summary)
    else:
        out.print(f"examples: {summary['added']} new of {summary['read']} read · {summary['total']} in total")


eval_app = typer.Typer(help="Evaluations against the current index.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    dataset: Annotated[Path, typer.Option("--dataset", help="JSONL with gold_article_ids (stard, CAIL or guiding-case shape).")],
    k: Annotated[int, typer.Option("--k", min=10, max=100, help="Chunks fetched per query.")] = 40,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """recall@1/5/10, MRR@10 and nDCG@10 at the article level on a labelled dataset."""
    from assistant.evaluation import mean, metrics, queries_from_file, unique_sources

    assistant = _assistant()
    admin = Principal.local_admin()
    results = {}
    for name, queries in queries_from_file(dataset).items():
        rows = [metrics(unique_sources(h.chunk.source_id for h in assistant.search(q.text, principal=admin, k=k)),
                        q.gold) for q in queries]
        results[name] = {"queries": len(rows), **mean(rows)}
    if as_json:
        _print_json(results)
        return
    for name, m in results.items():
        out.print(f"{name} ({m['queries']} queries): " + ", ".join(
            f"{key} {value:.3f}" for key, value in m.items() if key != "queries"))


@eval_app.command("answers")
def eval_answers(
    dataset: Annotated[Path, typer.Option("--dataset", help="JSONL with gold_article_ids (stard shape): in-corpus questions.")],
    out_of_corpus: Annotated[Optional[Path], typer.Option(
        "--out-of-corpus", help="JSONL of {question} the corpus cannot answer (evals/data/out_of_corpus.jsonl).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Only the first N in-corpus questions (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Answers on a labelled set: gold citations, citation precision, first sentences from a gold
    article, false refusals, and the refusal rate on out-of-corpus questions, at the configured
    threshold and around it."""
    from assistant.evaluation import answer_scores, ask_all, out_of_corpus_questions, queries_from_file

    assistant = _assistant()
    admin = Principal.local_admin()
    per_set = {name: (qs[:limit] if limit else qs) for name, qs in queries_from_file(dataset).items()}
    asked = {name: ask_all(assistant, [(q.text, q.gold) for q in qs], principal=admin) for name, qs in per_set.items()}
    inside = [a for rows in asked.values() for a in rows]
    outside = ask_all(assistant, [(q, ()) for q in out_of_corpus_questions(out_of_corpus)], principal=admin) \
        if out_of_corpus else []
    configured = assistant.settings.answer.min_support
    sweep = [answer_scores(inside, outside, t) for t in sorted({configured, *(i / 20 for i in range(21))})]
    result = {"questions": len(inside), "out_of_corpus": len(outside),
              "at_setting": answer_scores(inside, outside, configured), "sweep": sweep,
              "sets": {name: answer_scores(rows, [], configured) for name, rows in asked.items()}}
    if as_json:
        _print_json(result)
        return
    out.print(f"{len(inside)} in-corpus, {len(outside)} out-of-corpus questions; min_support {configured:g}")
    for name, m in result["sets"].items():
        out.print(f"{name}: answers citing a gold article {m['gold_cited']:.3f} · citation precision "
                  f"{m['citation_precision']:.3f} · first sentence from a gold article {m['first_gold']:.3f} · "
                  f"false refusal {m['false_refusal']:.3f}")
    if outside:
        out.print(f"out of corpus: refused {result['at_setting']['refusal_out_of_corpus']:.3f}")


@eval_app.command("quizzes")
def eval_quizzes(
    n: Annotated[int, typer.Option("--n", min=1, max=20, help="Questions per case.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the survey as JSON.")] = False,
) -> None:
    """Template questions for every case in the index: validity rate, kinds, difficulties, samples."""
    from assistant.quiz import survey

    result = survey(_assistant(), principal=Principal.local_admin(), n=n)
    if as_json:
        _print_json(result)
        return
    out.print(f"{result['cases']} cases · {result['valid']}/{result['candidates']} candidates valid "
              f"({result['validity']:.1%}) · {result['questions']} questions kept", highlight=False)
    out.print(f"kinds {result['kinds']} · difficulty {result['difficulty']}", markup=False, highlight=False)
    overall = result["cues"]["all"]
    out.print("cue solvers (share right, chance " + f"{overall['chance']:.2f}): " + " · ".join(
        f"{k} {v:.2f}" for k, v in overall.items() if k not in ("n", "chance")), markup=False, highlight=False)


@app.command()
def config(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Print the effective settings (environment JIANXUE_*), secrets masked."""
    data = masked_settings(load_settings())
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                out.print(f"JIANXUE_{key.upper()}__{sub.upper()}={'' if item is None else item}", markup=False,
                          highlight=False)
        else:
            out.print(f"JIANXUE_{key.upper()}={value}", markup=False, highlight=False)


def main() -> None:
    """Console entry point: usage errors are typer's; library errors become one line on
    stderr, never a traceback."""
    try:
        app()
    except JianxueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
