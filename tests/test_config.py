import json
import subprocess
import sys

import pytest

from assistant.config import Settings, load_settings, masked_settings
from assistant.errors import ConfigError


def test_env_prefix_and_nested_sections(monkeypatch, tmp_path):
    monkeypatch.setenv("JIANXUE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("JIANXUE_EMBEDDER__NAME", "sentence-transformers:/models/bge")
    monkeypatch.setenv("JIANXUE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("JIANXUE_INGEST__CHUNK_CHARS", "300")
    s = load_settings()
    assert s.data_dir == tmp_path / "d"
    assert s.embedder.name == "sentence-transformers:/models/bge"
    assert s.llm.provider == "openai"
    assert s.ingest.chunk_chars == 300
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("d/jianxue.sqlite3")


def test_defaults_need_nothing():
    s = load_settings()
    assert s.data_dir.name == ".jianxue"
    assert s.embedder.name == "use-m3"
    assert s.llm.provider == "none"
    assert s.chroma.url is None


def test_every_field_is_documented():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation)

    walk(Settings)


def test_bad_values_give_a_clear_error(monkeypatch):
    monkeypatch.setenv("JIANXUE_LLM__PROVIDER", "gpt")
    with pytest.raises(ConfigError, match="JIANXUE_LLM__PROVIDER"):
        load_settings()


def test_unknown_keys_in_a_section_are_refused():
    with pytest.raises(ConfigError, match="JIANXUE_EMBEDDER__MODLE"):
        load_settings(embedder={"modle": "x"})


def test_secrets_are_masked():
    s = load_settings(llm={"api_key": "sk-very-secret", "base_url": "http://user:pw@10.0.0.1:8000/v1"},
                      database={"url": "postgresql://jx:hunter2@db:5432/jianxue"})
    shown = json.dumps(masked_settings(s))
    for secret in ("sk-very-secret", "hunter2", ":pw@"):
        assert secret not in shown
    assert masked_settings(s)["llm"]["api_key"] == "***"
    assert "db:5432/jianxue" in masked_settings(s)["database"]["url"]


@pytest.mark.slow
def test_settings_are_not_built_at_import():
    # a broken environment must not break importing the package or asking for --help
    env = {"JIANXUE_LLM__PROVIDER": "not-a-provider", "PATH": "/usr/bin:/bin"}
    code = "import assistant.cli, assistant.service, assistant.retrieve, assistant.ingest.pipeline"
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
    done = subprocess.run([sys.executable, "-m", "assistant", "config"], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "JIANXUE_LLM__PROVIDER" in done.stderr and "Traceback" not in done.stderr


def test_a_variable_that_names_no_setting_is_an_error_naming_the_closest(monkeypatch):
    monkeypatch.setenv("JIANXUE_CHROMA_URL", "http://127.0.0.1:8001")  # the setting is JIANXUE_CHROMA__URL
    with pytest.raises(ConfigError, match=r"JIANXUE_CHROMA_URL is not a setting \(did you mean JIANXUE_CHROMA__URL\?\)"):
        load_settings()
    monkeypatch.delenv("JIANXUE_CHROMA_URL")
    monkeypatch.setenv("JIANXUE_NONSENSE_ENTIRELY", "1")
    with pytest.raises(ConfigError, match="JIANXUE_NONSENSE_ENTIRELY is not a setting"):
        load_settings()
    monkeypatch.delenv("JIANXUE_NONSENSE_ENTIRELY")
    monkeypatch.setenv("JIANXUE_TEST_DATABASE_URL", "postgresql://x")  # the test-suite's own, not a setting
    monkeypatch.setenv("jianxue_chroma__url", "http://127.0.0.1:8001")  # names are case-insensitive
    assert load_settings().chroma.url == "http://127.0.0.1:8001"


@pytest.mark.slow
def test_every_command_refuses_a_misspelt_variable(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("JIANXUE_")}
    env.update(JIANXUE_DATA_DIR=str(tmp_path), JIANXUE_LLM__PROVDER="openai")
    done = subprocess.run([sys.executable, "-m", "assistant", "stats"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "JIANXUE_LLM__PROVIDER" in done.stderr and "Traceback" not in done.stderr
