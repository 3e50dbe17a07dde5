"""Ingest benchmark: all of statutes.jsonl, against the raw embedder on the same texts.

    python -m evals.bench_ingest [--limit N] [--out evals/reports/bench_ingest.md]

Reports, in one run: articles/s of a full ingest (a fresh data directory, the real
`jianxue ingest` in a subprocess) against the embedder alone on exactly the texts the
ingest embeds (target ratio >= 0.8), the ingest's peak memory, and the time of a
second, unchanged run (target <= 5% of the first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.index.embedders import make_embedder
from assistant.ingest.chunking import chunk_document
from assistant.ingest.loaders import Document, LoadOptions, load_file
from evals.common import REPORTS, shared_data


def run_ingest(path: Path, data_dir: Path) -> tuple[dict, float]:
    env = {**os.environ, "JIANXUE_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "assistant", "ingest", str(path), "--json"], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout), time.perf_counter() - started


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
            for _, line in zip(range(args.limit), src):
                dst.write(line)
        source = subset
    settings = load_settings(data_dir=work / "data")
    ingest_settings = settings.ingest
    docs = [d for d in load_file(source, root=source.parent, options=LoadOptions(), settings=ingest_settings)
            if isinstance(d, Document)]
    articles = sum(len(d.units) for d in docs)
    texts = [c.embedding_text() for d in docs
             for c in chunk_document(d, target=ingest_settings.chunk_chars, hard_max=ingest_settings.hard_max_chars)]

    embedder = make_embedder(settings.embedder)
    embedder.embed_documents(texts[:32])  # load weights outside the timing
    started = time.perf_counter()
    for start in range(0, len(texts), 256):
        embedder.embed_documents(texts[start:start + 256])
    raw_seconds = time.perf_counter() - started
    del embedder

    first, first_wall = run_ingest(source, settings.data_dir)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    second, second_wall = run_ingest(source, settings.data_dir)

    raw_rate = articles / raw_seconds
    ingest_rate = articles / first_wall
    result = {
        "statute_records": articles,
        "documents": len(docs),
        "chunks": len(texts),
        "embedder": settings.embedder.name,
        "raw_embed_seconds": round(raw_seconds, 2),
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
        f"| raw embedder ({settings.embedder.name}) on the same texts | {raw_rate:.1f} articles/s ({raw_seconds:.1f} s) | |\n"
        f"| full ingest, fresh data dir (wall, incl. start-up) | {ingest_rate:.1f} articles/s ({first_wall:.1f} s) | |\n"
        f"| ingest / raw | {result['ratio_to_raw']:.3f} | >= 0.8 ({verdict(result['ratio_to_raw'] >= 0.8)}) |\n"
        f"| peak memory of the ingest process | {peak_mb:.0f} MB | |\n"
        f"| second, unchanged run (wall, incl. start-up) | {second_wall:.2f} s = {100 * result['second_run_share_of_first']:.1f}% of the first | <= 5% ({verdict(result['second_run_share_of_first'] <= 0.05)}) |\n"
        f"\nSecond run summary: {json.dumps(result['second_report'], ensure_ascii=False)}\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
