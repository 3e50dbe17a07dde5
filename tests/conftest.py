from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings, load_settings
from assistant.index.embedders import HashEmbedder
from assistant.service import Assistant, build_assistant

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


def _shared_data() -> Path | None:
    configured = os.environ.get("JIANXUE_SHARED_DATA")
    for candidate in ([Path(configured)] if configured else []) + [REPO.parent / "shared" / "data"]:
        if (candidate / "statutes.jsonl").is_file():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up the developer's own JIANXUE_* settings."""
    for key in list(os.environ):
        if key.startswith("JIANXUE_") and key != "JIANXUE_SHARED_DATA":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = _shared_data()
    if found is None:
        pytest.skip("../shared/data not found (set JIANXUE_SHARED_DATA)")
    return found


@pytest.fixture(scope="session")
def statute_records(shared_data: Path) -> list[dict]:
    with (shared_data / "statutes.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def case_records(shared_data: Path) -> list[dict]:
    with (shared_data / "guiding_cases.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"})


@pytest.fixture
def assistant(settings: Settings) -> Iterator[Assistant]:
    """The real composition (Chroma, SQLite ledger) with the fast deterministic embedder."""
    yield build_assistant(settings, embedder=HashEmbedder(64))

pytest_plugins = ["tests.servers"]  # the PostgreSQL, Chroma server and proxy fixtures
