"""Search latency over the full statutes plus the guiding cases (about 35k chunks).

    python -m evals.bench_search [--queries 300]

One search = the whole hybrid path (query embedding, BM25, vector candidates, citation
hints, ranker, chunk fetch). Measured with no filter (the operator) and with a department
filter (a learner of one department; the guiding cases are ingested as restricted to
another department, so the filter has work to do), beside the brute-force numpy floor
over the same vectors (one matrix product and a partial sort, filter mask applied).
Target: p95 <= 50 ms with the filter on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from assistant.evaluation import read_jsonl
from evals.common import REPO, REPORTS, shared_data

CACHE = REPO / "evals" / ".cache"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPORTS / "bench_search.md")
    args = parser.parse_args()
    from assistant.config import load_settings
    from assistant.ingest.loaders import LoadOptions
    from assistant.models import Principal
    from assistant.service import build_assistant

    data = shared_data()
    folder = CACHE / "bench-search"
    if not folder.exists():
        base = CACHE / "statutes-use-m3"
        if base.exists():
            shutil.copytree(base, folder)
    settings = load_settings(data_dir=folder)
    assistant = build_assistant(settings)
    assistant.ingest([data / "statutes.jsonl"])
    assistant.ingest([data / "guiding_cases.jsonl"], options=LoadOptions(access=("刑事检察部",)))
    chunks = len(assistant.snapshot().catalog)
    questions = [r["question"] for r in read_jsonl(data / "eval" / "stard_train.jsonl")][: args.queries]

    admin = Principal.local_admin()
    learner = Principal(user="bench", role="learner", departments=("民事检察部",))
    for q in questions[:10]:  # warm up: models, caches, hints
        assistant.search(q, principal=learner, k=10)
    timings: dict[str, list[float]] = {"no filter": [], "department filter": []}
    for label, principal in (("no filter", admin), ("department filter", learner)):
        for q in questions:
            started = time.perf_counter()
            assistant.search(q, principal=principal, k=10)
            timings[label].append(time.perf_counter() - started)

    # the floor: every vector in memory, one product, mask, partial sort
    got = assistant.store._collection.get(include=["embeddings"])
    matrix = np.asarray(got["embeddings"], dtype=np.float32)
    catalog = assistant.snapshot().catalog
    from assistant.index.store import SearchFilter

    mask = catalog.mask(SearchFilter.for_principal(learner))
    rows = np.array([catalog.row_of.get(i, -1) for i in got["ids"]])
    allowed = np.where(rows >= 0, mask[np.maximum(rows, 0)], False)
    embedder = assistant.embedder()
    vectors = [embedder.embed_query(q) for q in questions]
    floor: list[float] = []
    for v in vectors:
        started = time.perf_counter()
        scores = matrix @ v
        scores[~allowed] = -np.inf
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        floor.append(time.perf_counter() - started)
    embed: list[float] = []
    for q in questions[:100]:
        started = time.perf_counter()
        embedder.embed_query(q)
        embed.append(time.perf_counter() - started)

    result = {
        "chunks": chunks,
        "queries": len(questions),
        **{f"{label} p50 ms": round(percentile(t, 50), 1) for label, t in timings.items()},
        **{f"{label} p95 ms": round(percentile(t, 95), 1) for label, t in timings.items()},
        "numpy floor p50 ms": round(percentile(floor, 50), 2),
        "numpy floor p95 ms": round(percentile(floor, 95), 2),
        "query embedding p50 ms": round(percentile(embed, 50), 1),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = result["department filter p95 ms"] <= 50
    args.out.write_text(
        "# Search latency\n\n"
        f"`python -m evals.bench_search`, {time.strftime('%Y-%m-%d')}, 2-core machine, {chunks} chunks "
        f"(statutes.jsonl + guiding_cases.jsonl), {len(questions)} stard questions, k=10, embedder use-m3.\n\n"
        "| path | p50 ms | p95 ms |\n|---|---|---|\n"
        f"| hybrid search, no filter | {result['no filter p50 ms']} | {result['no filter p95 ms']} |\n"
        f"| hybrid search, department filter | {result['department filter p50 ms']} | {result['department filter p95 ms']} "
        f"(target <= 50: {'met' if ok else 'MISSED'}) |\n"
        f"| numpy brute-force floor (vectors only, mask) | {result['numpy floor p50 ms']} | {result['numpy floor p95 ms']} |\n"
        f"| of which: query embedding (use-m3) | {result['query embedding p50 ms']} | |\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
