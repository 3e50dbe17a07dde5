"""Soak test of the scaled-out setup: mixed load against two API workers for ten minutes.

    python -m evals.soak [--minutes 10] [--clients 20] [--workers 2] [--database URL]

Starts a Chroma server (`chroma run`) on a temporary folder, uses a fresh schema in
PostgreSQL (default: the test database on 127.0.0.1), ingests the demo corpus and the
guiding cases with the default embedder, and starts two `jianxue serve` worker processes,
as a load balancer would see them. Twenty clients, split between the two, then ask
(extractive), search, take quiz questions (generate, answer) and upload (trainers: a small
document, then a search on the *other* worker that must find it at once) in a 4:4:1.5:0.5 mix.
Reports errors (target 0; a fresh upload not found counts as one), p50/p95 by endpoint, and
each worker's resident memory, its question-embedding process included, after one minute of
warm-up and at the end (target: growth under 10%). Report: evals/reports/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

from evals.common import REPO, REPORTS, shared_data
from evals.deploy import DEFAULT_DATABASE, cli, scaled

MIX = (("ask", 40), ("search", 40), ("quiz", 15), ("upload", 5))
QUESTIONS = ["正当防卫的限度怎么认定", "认罪认罚案件量刑建议怎么提", "附条件不起诉的考验期多长", "公益诉讼诉前程序怎么进行",
             "虚假诉讼怎么识别", "审查逮捕要审查哪些条件", "羁押必要性审查怎么启动", "民事生效裁判监督的条件",
             "行政非诉执行监督的重点", "未成年人犯罪的特殊程序", "职务犯罪案件退回补充调查", "诈骗罪数额怎么认定"]
TOPICS = ["正当防卫", "认罪认罚", "不起诉", "公益诉讼", "虚假诉讼", "审查逮捕"]


def rss_mb(pid: int) -> float:
    """Resident memory of a worker and its children (the process that embeds its questions)."""
    return sum(_own_rss_mb(p) for p in (pid, *children(pid)))


def _own_rss_mb(pid: int) -> float:
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return float("nan")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


class Load:
    def __init__(self, urls: list[str], learner: str, trainer: str, deadline: float, seed: int) -> None:
        self.urls, self.deadline = urls, deadline
        self.keys = {"learner": learner, "trainer": trainer}
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.rng = random.Random(seed)

    async def timed(self, http: httpx.AsyncClient, name: str, method: str, path: str, *, expect=(200,), **kw):
        started = time.perf_counter()
        try:
            response = await http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.errors.append(f"{name}: {type(exc).__name__}")
            return None
        self.latency.setdefault(name, []).append(time.perf_counter() - started)
        if response.status_code not in expect:
            self.errors.append(f"{name}: {response.status_code} {response.text[:160]}")
            return None
        return response

    async def client(self, number: int) -> None:
        role = "trainer" if number % 5 == 0 else "learner"
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        actions, weights = zip(*MIX, strict=True)
        mine, other = self.urls[number % len(self.urls)], self.urls[(number + 1) % len(self.urls)]
        async with httpx.AsyncClient(base_url=mine, headers=headers, timeout=60) as http, \
                httpx.AsyncClient(base_url=other, headers=headers, timeout=60) as elsewhere:
            while time.monotonic() < self.deadline:
                action = self.rng.choices(actions, weights)[0]
                if action == "upload":
                    if role == "trainer":
                        await self.upload(http, elsewhere)
                    continue
                await getattr(self, action)(http)

    async def ask(self, http) -> None:
        await self.timed(http, "POST /v1/ask", "POST", "/v1/ask", json={"question": self.rng.choice(QUESTIONS)})

    async def search(self, http) -> None:
        await self.timed(http, "POST /v1/search", "POST", "/v1/search", json={"query": self.rng.choice(QUESTIONS)})

    async def quiz(self, http) -> None:
        made = await self.timed(http, "POST /v1/quizzes", "POST", "/v1/quizzes",
                                json={"topic": self.rng.choice(TOPICS), "n": 3})
        if made is None:
            return
        quiz = made.json()
        q = quiz["questions"][0]
        await self.timed(http, "POST /v1/quizzes/{id}/answers", "POST", f"/v1/quizzes/{quiz['id']}/answers",
                         json={"question_id": q["id"], "chosen": [0]})

    async def upload(self, http, elsewhere) -> None:
        marker = f"SOAK{uuid.uuid4().hex[:10].upper()}"
        text = f"---\ntitle: 讲义{marker}\nline: criminal\n---\n# 讲义{marker}\n\n审查要点：口令 {marker} 应当记录在案。\n"
        done = await self.timed(http, "POST /v1/documents", "POST", "/v1/documents", expect=(201,),
                                files={"file": (f"{marker}.md", text.encode())})
        if done is None:
            return
        found = await self.timed(elsewhere, "POST /v1/search", "POST", "/v1/search", json={"query": marker, "k": 3})
        if found is not None and not any(h["doc_id"] == done.json()["doc_id"] for h in found.json()["hits"]):
            self.errors.append(f"upload {marker} not found by the other worker's next search")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--out", type=Path, default=REPORTS / "soak.md")
    args = parser.parse_args()

    with scaled(args.database, prefix="jianxue-soak-") as deployment:
        started = time.perf_counter()
        cli(deployment.env, "ingest", str(REPO / "corpus"), str(shared_data() / "guiding_cases.jsonl"))
        ingest_s = time.perf_counter() - started
        learner, trainer = deployment.key("soak-learner"), deployment.key("soak-trainer", "trainer")
        urls = deployment.serve(args.workers)
        workers = [server.pid for server in deployment.servers]
        deadline = time.monotonic() + args.minutes * 60
        load = Load(urls, learner, trainer, deadline, seed=20261206)
        memory: dict[int, list[tuple[float, float]]] = {p: [] for p in workers}

        async def run() -> float:
            async def sample() -> None:
                begin = time.monotonic()
                while time.monotonic() < deadline:
                    for pid in workers:
                        memory[pid].append((time.monotonic() - begin, rss_mb(pid)))
                    await asyncio.sleep(10)

            begin = time.perf_counter()
            await asyncio.gather(sample(), *(load.client(i) for i in range(args.clients)))
            return time.perf_counter() - begin

        seconds = asyncio.run(run())
        for pid in workers:
            memory[pid].append((seconds, rss_mb(pid)))
        exited = [server.pid for server in deployment.servers if server.poll() is not None]
        server_log = deployment.log()

    ms = lambda values, q: float(np.percentile(np.asarray(values) * 1000, q))  # noqa: E731
    rows = {name: {"requests": len(v), "p50_ms": round(ms(v, 50), 1), "p95_ms": round(ms(v, 95), 1)}
            for name, v in sorted(load.latency.items())}
    total = sum(len(v) for v in load.latency.values())
    growth = {}
    for pid, samples in memory.items():
        warm = next((mb for t, mb in samples if t >= 60), samples[0][1])
        growth[pid] = {"warm_mb": round(warm, 1), "end_mb": round(samples[-1][1], 1),
                       "growth": round((samples[-1][1] - warm) / warm, 4)}
    result = {"minutes": round(seconds / 60, 2), "clients": args.clients, "workers": args.workers,
              "requests": total, "requests_per_s": round(total / seconds, 1), "errors": len(load.errors),
              "first_errors": load.errors[:10], "by_endpoint": rows, "memory": growth, "ingest_s": round(ingest_s, 1),
              "workers_exited": exited, "server_log_tail": server_log[-3000:],
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    worst = max((g["growth"] for g in growth.values()), default=0.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Soak test\n\n"
        f"`python -m evals.soak` on {result['machine']}, {time.strftime('%Y-%m-%d')}: {args.workers} `jianxue serve` "
        "workers (separate processes) on a Chroma server and PostgreSQL, demo corpus + 167 guiding cases (use-m3), "
        f"{args.clients} clients on the same machine for {result['minutes']} minutes, mix ask 40 / search 40 / "
        "quiz 15 (make 3, answer 1) / upload 5 (trainers; the upload must be found by the other worker's next "
        "search).\n\n"
        f"Requests {total}, {result['requests_per_s']} per second; errors **{len(load.errors)}** (target 0, "
        f"{verdict(not load.errors)}).\n\n"
        "| endpoint | requests | p50 ms | p95 ms |\n|---|---|---|---|\n"
        + "".join(f"| {name} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} |\n" for name, r in rows.items())
        + "\n| worker (with its embedding process) | RSS after 1 min | RSS at the end | growth |\n|---|---|---|---|\n"
        + "".join(f"| pid {pid} | {g['warm_mb']} MB | {g['end_mb']} MB | {g['growth']:+.1%} |\n" for pid, g in growth.items())
        + f"\nWorst growth {worst:+.1%} (target under 10%, {verdict(worst < 0.10)}).\n"
        + ("".join(f"\n- {e}" for e in load.errors[:10]) + "\n" if load.errors else ""),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
