"""The trainer console's endpoints on a year of training: a real `jianxue serve` over the
seeded fixture of evals/training_fixture.py (500 learners in five departments, a year of
answers), each endpoint asked REQUESTS times in turn by one client as a trainer (or the
admin), after a warm-up. Target: p95 <= 200 ms for every endpoint the console page calls.

    python -m evals.bench_console [--learners 500] [--days 365] [--requests 200] [--screenshot docs/console.png]

Writes evals/reports/bench_console.md (and, with --screenshot, the console in headless
Chromium signed in with the admin's key, so that the heat map has every department).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from evals.bench_http import free_port
from evals.common import REPORTS
from evals.deploy import wait_healthy
from evals.training_fixture import DEPARTMENTS, generate

TARGET_MS = 200


def endpoints(fixture: dict) -> list[tuple[str, str, str, bool]]:
    """(name, who, path, called by the console page)."""
    first, third = DEPARTMENTS[0], DEPARTMENTS[2]
    return [
        ("overview (trainer)", first, "/v1/console/overview", True),
        ("overview (admin, all)", "admin", "/v1/console/overview", True),
        ("overview (admin, one dept)", "admin", f"/v1/console/overview?department={third}", True),
        ("drafts (trainer)", first, "/v1/console/drafts", True),
        ("console page", first, "/console/", True),
        ("assignment status (trainer)", DEPARTMENTS[(fixture["assignments"] - 1) % len(DEPARTMENTS)],
         f"/v1/assignments/{fixture['first_assignment']}", False),
        ("assignments list (trainer)", first, "/v1/assignments", False),
        ("学时 of a department (trainer)", first, "/v1/hours", False),
    ]


def measure(url: str, fixture: dict, requests: int) -> list[dict]:
    out = []
    for name, who, path, console in endpoints(fixture):
        headers = {"Authorization": f"Bearer {fixture['keys'][who]}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for _ in range(5):
                assert client.get(path).status_code == 200, (path, client.get(path).text[:200])
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
        values = np.array(times)
        out.append({"endpoint": name, "path": path, "console": console,
                    "p50_ms": round(float(np.percentile(values, 50)), 1),
                    "p95_ms": round(float(np.percentile(values, 95)), 1), "max_ms": round(float(values.max()), 1),
                    "bytes": len(response.content)})
    return out


def screenshot(url: str, key: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic"]
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium",
                                                                headless=True, args=flags,
                                                                viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.goto(f"{url}/console/")
            page.fill("#key", key)
            page.click("#signin button")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()


def report(fixture: dict, results: list[dict], args) -> str:
    console = [r for r in results if r["console"]]
    worst = max(r["p95_ms"] for r in console)
    lines = [
        "# The trainer console on a year of training", "",
        f"`python -m evals.bench_console --learners {args.learners} --days {args.days} --requests {args.requests}` "
        f"on {platform.machine()} ({os.cpu_count()} CPUs, shared with other work), one `jianxue serve` process "
        "(SQLite, embedded), one client asking each endpoint in turn after a warm-up.", "",
        f"Fixture (evals/training_fixture.py, seed 2027): {fixture['learners']} learners in {fixture['departments']} "
        f"departments, {fixture['published_questions']} published questions, {fixture['attempts']:,} attempts over "
        f"{args.days} days, {fixture['mistakes']:,} open 错题, {fixture['assignments']} assignments "
        f"({fixture['assignment_progress']:,} completions), {fixture['hour_credits']:,} 学时 credits; built in "
        f"{fixture['seconds']} s.", "",
        f"**Console endpoints: worst p95 {worst:.0f} ms (target {TARGET_MS} ms: "
        f"{'met' if worst <= TARGET_MS else 'NOT met'}).**", "",
        "| endpoint | path | console page | p50 ms | p95 ms | max ms | bytes |", "|---|---|---|---|---|---|---|",
        *(f"| {r['endpoint']} | `{r['path']}` | {'yes' if r['console'] else 'no'} | {r['p50_ms']} | {r['p95_ms']} | "
          f"{r['max_ms']} | {r['bytes']:,} |" for r in results), "",
        "The console reads per-department roll-ups (topic × week, question) that every graded answer updates, "
        "not the attempts; the assignment list and a department's 学时 are the API's other trainer views "
        "(not called by the page) and read the roster and progress rows directly.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        data_dir = Path(work) / "data"
        fixture = generate(data_dir, learners=args.learners, days=args.days)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")},
               "JIANXUE_DATA_DIR": str(data_dir),
               "JIANXUE_EMBEDDER__NAME": "hash-64", "JIANXUE_HTTP__RATE_PER_MINUTE": "10000000",
               "JIANXUE_HTTP__BURST": "10000000"}
        server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url)
            results = measure(url, fixture, args.requests)
            if args.screenshot:
                screenshot(url, fixture["keys"]["admin"], args.screenshot)
        finally:
            server.terminate()
            server.wait(timeout=30)
    REPORTS.mkdir(exist_ok=True)
    text = report(fixture, results, args)
    (REPORTS / "bench_console.md").write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
