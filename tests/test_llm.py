"""llm.py builds the configured chat model; each provider is exercised against a local server."""

from __future__ import annotations

import importlib.util

import pytest

from assistant.config import LLMSettings
from assistant.errors import ConfigError, LLMUnavailable
from assistant.llm import build_chat_model
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake():
    server = FakeOpenAI().start()
    yield server
    server.stop()


def test_none_means_no_model():
    assert build_chat_model(LLMSettings()) is None


def test_a_provider_needs_a_model_name():
    with pytest.raises(ConfigError, match="JIANXUE_LLM__MODEL"):
        build_chat_model(LLMSettings(provider="openai", base_url="http://127.0.0.1:9/v1"))


def test_openai_compatible_server_with_key_and_settings(fake):
    fake.then("答复[1]。")
    model = build_chat_model(LLMSettings(provider="openai", base_url=fake.base_url, model="qwen2.5-7b-instruct",
                                         api_key="sk-local", temperature=0.2, max_tokens=300))
    assert model.invoke("你好").content == "答复[1]。"
    sent = fake.requests[-1]
    assert sent["model"] == "qwen2.5-7b-instruct" and sent["temperature"] == 0.2
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 300
    assert fake.headers[-1]["authorization"] == "Bearer sk-local"


def test_ollama_server(fake):
    fake.then("依法处理[1]。").then("流式回答[2]。")
    model = build_chat_model(LLMSettings(provider="ollama", base_url=fake.root_url, model="qwen2.5:7b"))
    assert model.invoke("你好").content == "依法处理[1]。"
    assert "".join(chunk.content for chunk in model.stream("你好")) == "流式回答[2]。"
    assert fake.requests[0]["model"] == "qwen2.5:7b"


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is not None, reason="llama-cpp-python is installed here")
def test_llamacpp_without_its_extra_says_how_to_install_it(tmp_path):
    with pytest.raises(LLMUnavailable, match="llamacpp"):
        build_chat_model(LLMSettings(provider="llamacpp", model=str(tmp_path / "model.gguf")))


@pytest.mark.parametrize(("provider", "field", "value"), [("openai", "response_format", {"type": "json_object"}),
                                                          ("ollama", "format", "json")])
def test_json_replies_reach_the_server(fake, provider, field, value):
    from assistant.llm import json_replies

    fake.then('{"ok": true}')
    base = fake.base_url if provider == "openai" else fake.root_url
    model = json_replies(build_chat_model(LLMSettings(provider=provider, base_url=base, model="m")), provider)
    assert model.invoke("只输出JSON").content == '{"ok": true}'
    assert fake.requests[-1][field] == value
