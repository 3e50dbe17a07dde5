"""The one place that builds a LangChain chat model from settings.

``openai`` talks to any OpenAI-compatible server (vLLM, Ollama's /v1, llama.cpp server,
hosted Qwen or DeepSeek); ``ollama`` to Ollama's own API; ``llamacpp`` loads a GGUF file
in-process (optional extra). Building a model never contacts the server: a dead server
shows up on the first call, where answer.py falls back to extractive answers.
"""

from __future__ import annotations

from assistant.config import LLMSettings
from assistant.errors import ConfigError, LLMUnavailable


def build_chat_model(settings: LLMSettings):
    """A LangChain ``BaseChatModel`` for ``settings``, or None when ``provider`` is ``none``."""
    provider = settings.provider
    if provider == "none":
        return None
    if not settings.model:
        raise ConfigError(f"JIANXUE_LLM__MODEL must name the model (provider {provider!r})")
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.model,
            base_url=settings.base_url,
            # local servers want no key, but the client insists on one
            api_key=key or "not-needed",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            stream_usage=False,
        )
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=settings.model,
            base_url=settings.base_url,
            temperature=settings.temperature,
            num_predict=settings.max_tokens,
            client_kwargs={"timeout": settings.timeout_s},
        )
    if provider == "llamacpp":
        try:
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError:
            raise LLMUnavailable(
                "the llamacpp provider needs the optional extra: "
                "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install -c constraints.txt 'jianxue[llamacpp]'"
            ) from None
        try:
            return ChatLlamaCpp(model_path=settings.model, temperature=settings.temperature,
                                max_tokens=settings.max_tokens, n_ctx=8192, verbose=False)
        except Exception as exc:  # a missing or unreadable GGUF file
            raise LLMUnavailable(f"cannot load the GGUF model {settings.model}: {exc}") from None
    raise ConfigError(f"unknown LLM provider {provider!r}")


def json_replies(model, provider: str):
    """The model asked for JSON objects where the server supports it (OpenAI-compatible JSON mode,
    Ollama's format=json); the schema itself travels in the prompt."""
    if provider == "openai":
        return model.bind(response_format={"type": "json_object"})
    if provider == "ollama":
        return model.bind(format="json")
    return model
