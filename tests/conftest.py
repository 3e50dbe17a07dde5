from __future__ import annotations

import json
import os
import shutil
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


DEPARTMENTS = ("刑事检察部", "民事检察部")


def marker(dept: str) -> str:
    """A token that occurs only in ``dept``'s restricted case: seeing it elsewhere is a leak."""
    return f"MARKERDEPT{DEPARTMENTS.index(dept)}XQ"


def write_restricted_cases(corpus: Path) -> None:
    """One restricted case per department, on the same subject, into a corpus folder."""
    for dept in DEPARTMENTS:
        (corpus / f"{dept}.md").write_text(
            f"---\ntitle: {dept}内部口径\nkind: case\nline: criminal\naccess: [{dept}]\n---\n# {dept}内部口径\n\n"
            f"## 要旨\n\n正当防卫案件审查逮捕时应当重点审查防卫限度，内部口径编号 {marker(dept)}。"
            f"对于防卫过当的，应当依法减轻或者免除处罚。\n\n"
            f"## 基本案情\n\n某甲在自家门口遭人持刀追砍，夺刀反击致对方重伤，内部编号 {marker(dept)}。\n",
            encoding="utf-8")


def ingested_copy(corpus: Path, *, template: Path, target: Path) -> Path:
    """``target``: a fresh copy of the data directory ``template``, where ``corpus`` is ingested with
    the hash embedder the first time it is asked for."""
    if not template.exists():
        settings = load_settings(data_dir=template, embedder={"name": "hash-64"})
        build_assistant(settings, embedder=HashEmbedder(64)).ingest([corpus])
    shutil.copytree(template, target)
    return target


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"})


@pytest.fixture
def assistant(settings: Settings) -> Iterator[Assistant]:
    """The real composition (Chroma, SQLite docstore) with the fast deterministic embedder."""
    yield build_assistant(settings, embedder=HashEmbedder(64))

pytest_plugins = ["tests.servers"]  # the PostgreSQL, Chroma server and proxy fixtures
