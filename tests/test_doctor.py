"""`jianxue doctor` on a healthy install, on one whose servers are all down, and scaled out."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CORPUS
from tests.fakes.openai_server import FakeOpenAI
from tests.servers import free_port, needs_servers
from tests.test_cli import jianxue


def checks(done) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(done.stdout)}


@pytest.mark.slow
def test_a_healthy_embedded_install(tmp_path):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    fake = FakeOpenAI().start()
    try:
        done = jianxue("doctor", "--json", data_dir=data, env={
            "JIANXUE_LLM__PROVIDER": "openai", "JIANXUE_LLM__BASE_URL": fake.base_url, "JIANXUE_LLM__MODEL": "fake-model"})
    finally:
        fake.stop()
    found = checks(done)
    assert all(c["ok"] for c in found.values()), found
    assert set(found) == {"data directory", "database", "vector store", "embedder", "index", "language model"}
    assert "12 documents" in found["index"]["detail"] and "hash-64" in found["embedder"]["detail"]


@pytest.mark.slow
def test_everything_down_says_what_to_fix_without_a_traceback(tmp_path):
    dead = free_port()
    done = jianxue("doctor", "--json", data_dir=tmp_path / "data", check=False, env={
        "JIANXUE_DATABASE__URL": f"postgresql+psycopg://nobody@127.0.0.1:{dead}/x?connect_timeout=2",
        "JIANXUE_CHROMA__URL": f"http://127.0.0.1:{dead}", "JIANXUE_LLM__PROVIDER": "openai",
        "JIANXUE_LLM__BASE_URL": f"http://127.0.0.1:{dead}/v1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    found = checks(done)
    for name in ("database", "vector store", "language model"):
        assert not found[name]["ok"] and found[name]["fix"], found[name]
    assert "chroma run" in found["vector store"]["fix"] and "nobody" in found["database"]["detail"]
    plain = jianxue("doctor", data_dir=tmp_path / "data", check=False,
                    env={"JIANXUE_CHROMA__URL": f"http://127.0.0.1:{dead}"})
    assert plain.returncode == 1 and "FAIL vector store" in plain.stdout and "→ start it" in plain.stdout


@needs_servers
def test_a_healthy_scaled_out_install(server_settings):
    env = {"JIANXUE_DATABASE__URL": server_settings.database.url, "JIANXUE_CHROMA__URL": server_settings.chroma.url,
           "JIANXUE_CHROMA__COLLECTION": server_settings.chroma.collection}
    jianxue("ingest", str(CORPUS / "cases"), data_dir=server_settings.data_dir, env=env)
    found = checks(jianxue("doctor", "--json", data_dir=server_settings.data_dir, env=env))
    assert all(c["ok"] for c in found.values()), found
    assert found["vector store"]["detail"].startswith("Chroma server") and "postgresql" in found["database"]["detail"]
