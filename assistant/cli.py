"""The `jianxue` command line. Thin: parse, call the Assistant, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _assistant():
    from assistant.service import build_assistant

    return build_assistant(load_settings())


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


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
    query: Annotated[str, typer.Argument(help="What to look for, in plain Chinese.")],
    k: Annotated[Optional[int], typer.Option("--k", min=1, max=100, help="How many hits.")] = None,
    kind: Annotated[Optional[list[Kind]], typer.Option(help="Only these kinds (repeatable).")] = None,
    line: Annotated[Optional[list[Line]], typer.Option(help="Only these lines (repeatable).")] = None,
    as_dept: Annotated[Optional[list[str]], typer.Option(
        "--as-dept", help="Search as a member of this department (repeatable); default sees everything.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Search the index and show the passages with their citations."""
    principal = Principal(user="cli", role="learner", departments=tuple(as_dept)) if as_dept else Principal.local_admin()
    hits = _assistant().search(query, principal=principal, k=k,
                               kinds=tuple(x.value for x in kind or ()), lines=tuple(x.value for x in line or ()))
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
