"""Ingest benchmark: all of statutes.jsonl, against the raw embedder on the same texts.

    python -m evals.bench_ingest [--limit N] [--out evals/reports/bench_ingest.md]

Reports, in one run: articles/s of a full ingest (a fresh data directory, the real
`jianxue ingest` in a subprocess) against the embedder alone on exactly the texts the
ingest embeds (target ratio >= 0.8), the ingest's peak memory (the process and its
embedding workers together), and the time of a second, unchanged run (target <= 5% of
the first).

The embedder alone is measured two ways: in one process, as a search uses it, and in
the same pool of worker processes a large ingest embeds with. The target is judged
against the faster of the two, so the ratio measures what the pipeline costs on top of
the best the embedder does on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.index.embedders import make_embedder
from assistant.index.pool import EmbedderPool, pool_size
from assistant.ingest.chunking import chunk_document
from assistant.ingest.loaders import Document, LoadOptions, load_file
from assistant.ingest.pipeline import EMBED_BATCH
from evals.common import REPORTS, shared_data


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def run_ingest(path: Path, data_dir: Path) -> tuple[dict, float, float]:
    """(summary, wall seconds, peak memory of the process tree in MB)."""
    env = {**os.environ, "JIANXUE_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(path), "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.25):
            peak = max(peak, tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"ingest failed: {err}")
    return json.loads(out), wall, peak


def raw_seconds(embed, texts: list[str]) -> float:
    started = time.perf_counter()
    for _ in embed([texts[i:i + EMBED_BATCH] for i in range(0, len(texts), EMBED_BATCH)]):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N statute records (smoke runs)")
    parser.add_argument("--out", type=Path, default=REPORTS / "bench_ingest.md")
    args = parser.parse_args()

    source = shared_data() / "statutes.jsonl"
    work = Path(tempfile.mkdtemp(prefix="jianxue-bench-"))
    if args.limit:
        subset = work / "statutes.jsonl"
        with source.open(encoding="utf-8") as src, subset.open("w", encoding="utf-8") as dst:
            for _, line in zip(range(args.limit), src, strict=False):
                dst.write(line)
        source = subset
    settings = load_settings(data_dir=work / "data")
    ingest_settings = settings.ingest
    docs = [d for d in load_file(source, root=source.parent, options=LoadOptions(), settings=ingest_settings)
            if isinstance(d, Document)]
    articles = sum(len(d.units) for d in docs)
    texts = [c.embedding_text() for d in docs
             for c in chunk_document(d, target=ingest_settings.chunk_chars, hard_max=ingest_settings.hard_max_chars)]

    threads = os.cpu_count() or 1  # one process at its best: every core as a BLAS thread
    embedder = make_embedder(settings.embedder.model_copy(update={"threads": threads}))
    embedder.embed_documents(texts[:32])  # load weights outside the timing
    single_seconds = raw_seconds(lambda batches, e=embedder: map(e.embed_documents, batches), texts)
    del embedder
    workers = pool_size(settings.embedder)
    pool_seconds = None
    if workers > 1:
        pool = EmbedderPool(settings.embedder, workers=workers)
        list(pool.map([texts[:32]] * workers))  # start the workers outside the timing
        pool_seconds = raw_seconds(pool.map, texts)
        pool.close()
    best_seconds = min(single_seconds, pool_seconds or single_seconds)

    first, first_wall, peak_mb = run_ingest(source, settings.data_dir)
    second, second_wall, _ = run_ingest(source, settings.data_dir)

    raw_rate = articles / best_seconds
    ingest_rate = articles / first_wall
    result = {
        "statute_records": articles,
        "documents": len(docs),
        "chunks": len(texts),
        "embedder": settings.embedder.name,
        "raw_one_process_seconds": round(single_seconds, 2),
        "raw_pool_seconds": round(pool_seconds, 2) if pool_seconds else None,
        "embedding_workers": workers,
        "raw_articles_per_s": round(raw_rate, 1),
        "ingest_wall_seconds": round(first_wall, 2),
        "ingest_articles_per_s": round(ingest_rate, 1),
        "ratio_to_raw": round(ingest_rate / raw_rate, 3),
        "peak_rss_mb": round(peak_mb, 1),
        "second_run_wall_seconds": round(second_wall, 2),
        "second_run_share_of_first": round(second_wall / first_wall, 4),
        "first_report": {k: v for k, v in first.items() if k != "skipped"},
        "second_report": {k: v for k, v in second.items() if k != "skipped"},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    args.out.write_text(
        "# Ingest benchmark\n\n"
        f"`python -m evals.bench_ingest` on {result['machine']}, {time.strftime('%Y-%m-%d')}.\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| statute records (articles) | {articles} in {len(docs)} documents, {len(texts)} chunks | |\n"
        f"| raw embedder ({settings.embedder.name}), one process, {threads} BLAS threads | "
        f"{articles / single_seconds:.1f} articles/s ({single_seconds:.1f} s) | |\n"
        + (f"| raw embedder, {workers} single-threaded worker processes (what the ingest uses) | "
           f"{articles / pool_seconds:.1f} articles/s ({pool_seconds:.1f} s) | |\n" if pool_seconds else "")
        + f"| full ingest, fresh data dir (wall, incl. start-up) | {ingest_rate:.1f} articles/s ({first_wall:.1f} s) | |\n"
        + f"| ingest / the faster raw embedder | {result['ratio_to_raw']:.3f} | >= 0.8 ({verdict(result['ratio_to_raw'] >= 0.8)}) |\n"
        f"| peak memory of the ingest and its workers (summed RSS) | {peak_mb:.0f} MB | |\n"
        f"| second, unchanged run (wall, incl. start-up) | {second_wall:.2f} s = {100 * result['second_run_share_of_first']:.1f}% of the first | <= 5% ({verdict(result['second_run_share_of_first'] <= 0.05)}) |\n"
        f"\nSecond run summary: {json.dumps(result['second_report'], ensure_ascii=False)}\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
