"""The quiz world: the demo corpus, every shared guiding case and the Criminal Law, ingested once."""

from __future__ import annotations

import shutil

import pytest

from assistant.config import load_settings
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from tests.conftest import CORPUS, write_jsonl


def make(root, llm=None):
    settings = load_settings(data_dir=root / "data", embedder={"name": "hash-64"}, **({"llm": llm} if llm else {}))
    return build_assistant(settings, embedder=HashEmbedder(64))


@pytest.fixture(scope="package")
def world(tmp_path_factory, statute_records, case_records):
    root = tmp_path_factory.mktemp("quiz")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus / "demo")
    write_jsonl(corpus / "cases.jsonl", case_records)
    write_jsonl(corpus / "statutes.jsonl", [r for r in statute_records if r["law_short"] == "刑法"])
    assistant = make(root)
    assert assistant.ingest([corpus]).skipped == []
    return assistant


def texts_of(assistant, quiz):
    ids = [c.chunk_id for q in quiz.questions for c in q.citations]
    return {cid: c.text for cid, c in assistant.docstore.get_chunks(ids).items()}
