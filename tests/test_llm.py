"""llm.py builds the configured chat model; each provider is exercised against a local server."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from assistant.config import LLMSettings
from assistant.errors import ConfigError, LLMUnavailable
from assistant.llm import ChatModel, Delta, FunctionModel, Message, ModelReplyError, ask, build_chat_model
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
    assert model.complete(ask("你好")) == "答复[1]。"
    sent = fake.requests[-1]
    assert sent["model"] == "qwen2.5-7b-instruct" and sent["temperature"] == 0.2
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 300
    assert fake.headers[-1]["authorization"] == "Bearer sk-local"


def test_ollama_server(fake):
    fake.then("依法处理[1]。").then("流式回答[2]。")
    model = build_chat_model(LLMSettings(provider="ollama", base_url=fake.root_url, model="qwen2.5:7b"))
    assert model.complete(ask("你好")) == "依法处理[1]。"
    assert "".join(d.text for d in collect(model.stream(ask("你好")))) == "流式回答[2]。"
    assert fake.requests[0]["model"] == "qwen2.5:7b"


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is not None, reason="llama-cpp-python is installed here")
def test_llamacpp_without_its_extra_says_how_to_install_it(tmp_path):
    with pytest.raises(LLMUnavailable, match="llamacpp"):
        build_chat_model(LLMSettings(provider="llamacpp", model=str(tmp_path / "model.gguf")))


@pytest.mark.parametrize(("provider", "field", "value"), [("openai", "response_format", {"type": "json_object"}),
                                                          ("ollama", "format", "json")])
def test_json_replies_reach_the_server(fake, provider, field, value):
    fake.then('好的：{"ok": true}')
    base = fake.base_url if provider == "openai" else fake.root_url
    model = build_chat_model(LLMSettings(provider=provider, base_url=base, model="m"))
    assert model.complete_json(ask("只输出JSON")) == {"ok": True}
    assert fake.requests[-1][field] == value


# -- the port's contract, on every model behind it -------------------------------------------------


def collect(stream) -> list[Delta]:
    async def run():
        return [d async for d in stream]

    return asyncio.run(run())


@pytest.fixture(params=["openai", "ollama", "function"])
def port(request, fake):
    """(a model behind the port, a way to script its next reply)."""
    if request.param == "function":
        script: list[str] = []
        return FunctionModel(lambda messages: script.pop(0), chunk=3), script.append
    base = fake.base_url if request.param == "openai" else fake.root_url
    return build_chat_model(LLMSettings(provider=request.param, base_url=base, model="m")), lambda t: fake.then(t)


def test_the_port_completes_streams_to_a_finish_and_parses_json(port):
    model, then = port
    assert isinstance(model, ChatModel) and model.name
    then("依法处理[1]。")
    assert model.complete([Message("system", "规则"), Message("user", "你好")]) == "依法处理[1]。"
    then("流式的回答，分几段到达[2]。")
    deltas = collect(model.stream(ask("你好")))
    assert "".join(d.text for d in deltas) == "流式的回答，分几段到达[2]。"
    assert deltas[-1].finished and not any(d.finished for d in deltas[:-1])
    then('```json\n{"stem": "题干", "answer": [0]}\n```')
    assert model.complete_json(ask("出题")) == {"stem": "题干", "answer": [0]}
    then("不是JSON")
    with pytest.raises(ModelReplyError):
        model.complete_json(ask("出题"))


def test_a_stream_cut_off_has_no_finished_signal(fake):
    fake.then("一二三四五六七八九十。" * 5, fail_after=3)
    model = build_chat_model(LLMSettings(provider="openai", base_url=fake.base_url, model="m"))
    try:
        deltas = collect(model.stream(ask("你好")))
    except Exception:  # noqa: BLE001 - the client may raise on the broken connection instead
        return
    assert not any(d.finished for d in deltas)
    cut = FunctionModel(lambda _m: "一二三四五六", chunk=2, cut_after=2)
    assert not any(d.finished for d in collect(cut.stream(ask("你好"))))
