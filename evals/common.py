"""Helpers shared by the evaluations: where the shared data lives, where reports go."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "evals" / "reports"


def shared_data() -> Path:
    """../shared/data beside the checkout, or JIANXUE_SHARED_DATA."""
    configured = os.environ.get("JIANXUE_SHARED_DATA")
    candidates = [Path(configured)] if configured else []
    candidates += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    for candidate in candidates:
        if (candidate / "statutes.jsonl").is_file():
            return candidate
    raise SystemExit("shared data not found: set JIANXUE_SHARED_DATA to the folder holding statutes.jsonl")
