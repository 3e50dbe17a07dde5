"""HTTP load benchmark: concurrent clients against a real `jianxue serve`.

    python -m evals.bench_http [--clients 20] [--requests 2000] [--corpus statutes|demo] [--scaled N]

The server is the real CLI in a subprocess (uvicorn, the default embedder use-m3) over an
index of all statutes (the cached one evals/retrieval.py builds) or the demo corpus; with
--scaled N, N `jianxue serve` processes on a Chroma server and PostgreSQL (evals/deploy.py),
the clients spread over them as a load balancer would. The
clients are asyncio tasks in this process sending half /v1/search and half /v1/ask
(extractive answers), each pair a STARD question of its own, each request waiting for
the previous answer of its client. Reports p50/p95/p99 by endpoint, requests/s and errors (target 0);
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

import aiohttp
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
    """``clients`` closed-loop clients (aiohttp: on a small machine the clients share the cores
    with the server, and httpx costs about 2.5 times its CPU per request)."""
    jobs: asyncio.Queue = asyncio.Queue()
    for i in range(total):
        path = "/v1/search" if i % 2 == 0 else "/v1/ask"
        question = questions[(i // 2) % len(questions)]
        jobs.put_nowait((path, {"query": question, "k": 8} if path == "/v1/search" else {"question": question}))
    latencies: dict[str, list[float]] = {"/v1/search": [], "/v1/ask": []}
    errors: list[str] = []

    async def client(http: aiohttp.ClientSession, url: str) -> None:
        while True:
            try:
                path, body = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            try:
                async with http.post(url + path, json=body) as response:
                    text = await response.text()
                    if response.status != 200:
                        errors.append(f"{path} {response.status} {text[:120]}")
                    else:
                        latencies[path].append(time.perf_counter() - started)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors.append(f"{path} {type(exc).__name__}")

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {key}"},
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        for url in urls:  # first-request work outside the timing
            async with http.post(url + "/v1/search", json={"query": "预热", "k": 1}) as response:
                await response.read()
        machine, own = cpu_seconds(), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(http, urls[i % len(urls)]) for i in range(clients)))
        seconds = time.perf_counter() - started
        machine_cpu, clients_cpu = cpu_seconds() - machine, time.process_time() - own
    return {"seconds": seconds, "latencies": latencies, "errors": errors, "machine_cpu_s": machine_cpu,
            "clients_cpu_s": clients_cpu}


def cpu_seconds() -> float:
    """CPU-seconds the whole machine has been busy since boot (every process: servers, their
    workers, Chroma, PostgreSQL, the clients), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


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

    # a question of its own for every search and ask pair (no request repeats another's work)
    questions = [r["question"] for r in read_jsonl(shared_data() / "eval" / "stard_train.jsonl")][:args.requests // 2]
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

    summary = summarise(result, args)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(summary, args), encoding="utf-8")


def summarise(result: dict, args: argparse.Namespace) -> dict:
    done = sum(len(v) for v in result["latencies"].values())
    rows = {path: {"requests": len(v), "p50_ms": round(ms(v, 50), 1), "p95_ms": round(ms(v, 95), 1),
                   "p99_ms": round(ms(v, 99), 1)} for path, v in result["latencies"].items()}
    cores = os.cpu_count() or 1
    cpu_ms = result["machine_cpu_s"] / max(done, 1) * 1000
    ceiling = cores * 1000 / cpu_ms if cpu_ms else float("inf")
    return {"corpus": args.corpus, "clients": args.clients, "requests": args.requests, "workers": args.scaled or 1,
            "completed": done, "errors": len(result["errors"]), "requests_per_s": round(done / result["seconds"], 1),
            "seconds": round(result["seconds"], 1), "by_endpoint": rows, "first_errors": result["errors"][:5],
            "cpu": {"machine_ms_per_request": round(cpu_ms, 2),
                    "clients_ms_per_request": round(result["clients_cpu_s"] / max(done, 1) * 1000, 2),
                    "busy_share": round(result["machine_cpu_s"] / (result["seconds"] * cores), 3),
                    "ceiling_requests_per_s": round(ceiling, 1),
                    "least_mean_latency_ms": round(args.clients / ceiling * 1000, 1)},
            "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"}


def report(summary: dict, args: argparse.Namespace) -> str:
    rows, cpu = summary["by_endpoint"], summary["cpu"]
    search_p95 = rows["/v1/search"]["p95_ms"]
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    corpus = "all 737 laws of statutes.jsonl (33,107 chunks)" if args.corpus == "statutes" else "the demo corpus"
    return (
        "# HTTP benchmark\n\n"
        f"`python -m evals.bench_http --corpus {args.corpus}{f' --scaled {args.scaled}' if args.scaled else ''}` on "
        f"{summary['machine']}, {time.strftime('%Y-%m-%d')}: "
        + (f"{args.scaled} `jianxue serve` processes on a Chroma server and PostgreSQL" if args.scaled
           else "one `jianxue serve` process, embedded")
        + f" (use-m3) over {corpus}; {args.clients} concurrent clients on the same machine, {args.requests} requests, "
        "half /v1/search (k=8) and half /v1/ask (extractive), each search and ask pair a STARD question of its "
        "own, a learner's key (department filter on).\n\n"
        "| endpoint | requests | p50 ms | p95 ms | p99 ms | target |\n|---|---|---|---|---|---|\n"
        + "".join(f"| {path} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
                  + (f"p95 <= 100 ms ({verdict(search_p95 <= 100)})" if path == "/v1/search" else "") + " |\n"
                  for path, r in rows.items())
        + f"\nThroughput {summary['requests_per_s']} requests/s over {summary['seconds']} s; errors "
        f"{summary['errors']} (target 0, {verdict(summary['errors'] == 0)}).\n\n"
        "## Where the time goes\n\n"
        f"The whole machine (servers, embedding workers, Chroma and PostgreSQL where scaled out, the clients) "
        f"spent {cpu['machine_ms_per_request']} CPU-ms per request, the clients {cpu['clients_ms_per_request']} of "
        f"them; the cores were {cpu['busy_share']:.0%} busy. At that cost {os.cpu_count()} cores serve at most "
        f"{cpu['ceiling_requests_per_s']} requests/s, and since each client waits for its answer before it asks "
        f"again, {args.clients} clients then wait at least {args.clients} / {cpu['ceiling_requests_per_s']} = "
        f"{cpu['least_mean_latency_ms']} ms on average (Little's law), however the work is scheduled. p95 <= 100 ms "
        f"needs a CPU cost per request under about {os.cpu_count() * 1000 / (args.clients / 0.08):.1f} ms on these "
        "cores (a mean near 80 ms), or more cores: `--scaled N` spreads the clients over N API processes.\n"
        + ("".join(f"\n- {e}" for e in summary["first_errors"]) + "\n" if summary["first_errors"] else "")
    )


if __name__ == "__main__":
    main()
