"""HTTP load benchmark: concurrent clients against a real `jianxue serve`.

    python -m evals.bench_http [--clients 20] [--requests 2000] [--corpus statutes|demo] [--scaled N]

The server is the real CLI in a subprocess (uvicorn, the default embedder use-m3) over an
index of all statutes (the cached one evals/retrieval.py builds) or the demo corpus; with
--scaled N, N `jianxue serve` processes on a Chroma server and PostgreSQL (evals/deploy.py),
the clients spread over them as a load balancer would. The
clients are asyncio tasks in this process sending half /v1/search and half /v1/ask
(extractive answers), STARD questions in turn, each request waiting for the previous
answer of its client. Reports p50/p95/p99 by endpoint, requests/s and errors (target 0);
target p95 <= 100 ms for search.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from assistant.evaluation import read_jsonl
from evals.common import REPO, REPORTS, shared_data
from evals.deploy import cli, scaled, wait_healthy

CACHE = REPO / "evals" / ".cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(corpus: str, work: Path) -> tuple[Path, str]:
    """(data directory, an API key) for the chosen corpus."""
    from assistant.config import load_settings
    from assistant.service import build_assistant

    if corpus == "statutes":
        from evals.retrieval import build_index

        build_index(shared_data())  # fills the cache if it is not there yet
        data_dir = work / "data"
        shutil.copytree(CACHE / "statutes-use-m3", data_dir)
    else:
        data_dir = work / "data"
        build_assistant(load_settings(data_dir=data_dir)).ingest([REPO / "corpus"])
    assistant = build_assistant(load_settings(data_dir=data_dir))
    _key_id, key = assistant.keys.create(user="bench", role="learner", departments=("第一检察部",))
    return data_dir, key


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "JIANXUE_DATA_DIR": str(data_dir), "JIANXUE_HTTP__RATE_PER_MINUTE": "10000000",
           "JIANXUE_HTTP__BURST": "10000000"}
    command = [sys.executable, "-m", "assistant", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
    except SystemExit:
        server.kill()
        raise
    return server


async def load(urls: list[str], key: str, questions: list[str], *, clients: int, total: int) -> dict:
    jobs: asyncio.Queue = asyncio.Queue()
    for i in range(total):
        path = "/v1/search" if i % 2 == 0 else "/v1/ask"
        question = questions[(i // 2) % len(questions)]
        jobs.put_nowait((path, {"query": question, "k": 8} if path == "/v1/search" else {"question": question}))
    latencies: dict[str, list[float]] = {"/v1/search": [], "/v1/ask": []}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            try:
                path, body = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            try:
                response = await http.post(path, json=body)
                if response.status_code != 200:
                    errors.append(f"{path} {response.status_code} {response.text[:120]}")
                else:
                    latencies[path].append(time.perf_counter() - started)
            except httpx.HTTPError as exc:
                errors.append(f"{path} {type(exc).__name__}")

    https = [httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits)
             for url in urls]
    try:
        for http in https:
            await http.post("/v1/search", json={"query": "预热", "k": 1})  # first-request work outside the timing
        started = time.perf_counter()
        await asyncio.gather(*(client(https[i % len(https)]) for i in range(clients)))
        seconds = time.perf_counter() - started
    finally:
        for http in https:
            await http.aclose()
    return {"seconds": seconds, "latencies": latencies, "errors": errors}


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--corpus", choices=["statutes", "demo"], default="statutes")
    parser.add_argument("--scaled", type=int, default=0, metavar="N",
                        help="N serve processes on a Chroma server and PostgreSQL instead of one embedded")
    parser.add_argument("--out", type=Path, default=None, help="default evals/reports/bench_http[_scaled].md")
    args = parser.parse_args()
    args.out = args.out or REPORTS / ("bench_http_scaled.md" if args.scaled else "bench_http.md")

    questions = [r["question"] for r in read_jsonl(shared_data() / "eval" / "stard_train.jsonl")][:500]
    if args.scaled:
        with scaled(prefix="jianxue-http-") as deployment:
            corpus = shared_data() / "statutes.jsonl" if args.corpus == "statutes" else REPO / "corpus"
            cli(deployment.env, "ingest", str(corpus))
            key = deployment.key("bench")
            urls = deployment.serve(args.scaled)
            result = asyncio.run(load(urls, key, questions, clients=args.clients, total=args.requests))
    else:
        work = Path(tempfile.mkdtemp(prefix="jianxue-http-"))
        data_dir, key = prepare(args.corpus, work)
        port = free_port()
        server = start_server(data_dir, port)
        try:
            result = asyncio.run(load([f"http://127.0.0.1:{port}"], key, questions, clients=args.clients,
                                      total=args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
            shutil.rmtree(work, ignore_errors=True)

    done = sum(len(v) for v in result["latencies"].values())
    rows = {path: {"requests": len(v), "p50_ms": round(ms(v, 50), 1), "p95_ms": round(ms(v, 95), 1),
                   "p99_ms": round(ms(v, 99), 1)} for path, v in result["latencies"].items()}
    workers = args.scaled or 1
    summary = {"corpus": args.corpus, "clients": args.clients, "requests": args.requests, "workers": workers,
               "completed": done, "errors": len(result["errors"]), "requests_per_s": round(done / result["seconds"], 1),
               "seconds": round(result["seconds"], 1), "by_endpoint": rows, "first_errors": result["errors"][:5],
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    search_p95 = rows["/v1/search"]["p95_ms"]
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    corpus = "all 737 laws of statutes.jsonl (33,107 chunks)" if args.corpus == "statutes" else "the demo corpus"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# HTTP benchmark\n\n"
        f"`python -m evals.bench_http --corpus {args.corpus}{f' --scaled {args.scaled}' if args.scaled else ''}` on "
        f"{summary['machine']}, {time.strftime('%Y-%m-%d')}: "
        + (f"{args.scaled} `jianxue serve` processes on a Chroma server and PostgreSQL" if args.scaled
           else "one `jianxue serve` process, embedded")
        + f" (use-m3) over {corpus}; {args.clients} concurrent clients on the same machine, {args.requests} requests, "
        "half /v1/search (k=8) and half /v1/ask (extractive), STARD questions, a learner's key (department "
        "filter on).\n\n"
        "| endpoint | requests | p50 ms | p95 ms | p99 ms | target |\n|---|---|---|---|---|---|\n"
        + "".join(f"| {path} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
                  + (f"p95 <= 100 ms ({verdict(search_p95 <= 100)})" if path == "/v1/search" else "") + " |\n"
                  for path, r in rows.items())
        + f"\nThroughput {summary['requests_per_s']} requests/s over {summary['seconds']} s; errors "
        f"{summary['errors']} (target 0, {verdict(summary['errors'] == 0)}).\n\n"
        f"Each client waits for its answer before it asks again, so latency is about clients / throughput "
        f"(Little's law): p95 <= 100 ms for {args.clients} clients needs about {args.clients / 0.1:.0f} requests/s "
        "with room to spare. One server process is bound by one core's worth of Python (the GIL); on this "
        "two-core machine more processes do not help either (`--scaled 2`: the same throughput), because the "
        "clients, Chroma and PostgreSQL share the same two cores.\n"
        + ("".join(f"\n- {e}" for e in summary["first_errors"]) + "\n" if summary["first_errors"] else ""),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
