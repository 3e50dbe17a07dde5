"""Typed, nested settings read from the environment (prefix ``JIANXUE_``).

Nested fields use a double underscore: ``JIANXUE_EMBEDDER__NAME``,
``JIANXUE_LLM__BASE_URL``. Nothing is read at import time; call
:func:`load_settings` where the process starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from assistant.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderSettings(Section):
    name: str = Field(
        "use-m3",
        description="Embedding backend: 'use-m3' (offline default, 512-d) or "
        "'sentence-transformers:<model name or local folder>'.",
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Texts embedded per call.")
    threads: int = Field(
        1, ge=1, le=64,
        description="BLAS threads of the use-m3 embedder in this process (questions, small ingests). One is "
        "fastest for a question at a time: more threads spin on matrices that small. Large ingests embed in "
        "worker processes instead (workers).",
    )
    workers: int = Field(
        0, ge=0, le=64,
        description="Processes that embed during a large ingest (use-m3), each single-threaded; 0 = one per "
        "CPU core, 1 = embed in the ingest process. sentence-transformers always embeds in-process.",
    )
    device: str | None = Field(
        None, description="Torch device for sentence-transformers ('cpu', 'cuda'); None picks one."
    )
    question_process: bool | None = Field(
        None,
        description="In the API and the bot, embed questions (use-m3) in a worker process, in batches of "
        "those asked at the same time, so that embedding does not hold the server's GIL. Unset: on for the "
        "embedded single-process server, off scaled out (there each core runs an API worker of its own).",
    )


class ChromaSettings(Section):
    url: str | None = Field(
        None,
        description="URL of a Chroma server (chroma run); empty uses the embedded "
        "PersistentClient under the data directory.",
    )
    collection: str = Field(
        "jianxue_chunks",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$",
        description="Collection that holds the chunks (3-512 of a-z A-Z 0-9 . _ -).",
    )


class DatabaseSettings(Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL for the ledger and learner data; empty uses SQLite "
        "in the data directory (jianxue.sqlite3).",
    )


class IngestSettings(Section):
    max_file_mb: float = Field(50, gt=0, description="Files larger than this are skipped.")
    max_pdf_pages: int = Field(2000, ge=1, description="PDFs with more pages are skipped.")
    max_unzipped_mb: float = Field(
        200, gt=0, description="DOCX whose entries would inflate beyond this are skipped."
    )
    max_zip_ratio: float = Field(
        100, gt=1, description="DOCX entries compressed more than this are a decompression bomb."
    )
    chunk_chars: int = Field(
        400,
        ge=80,
        description="Target chunk size in characters; longer articles are cut per "
        "paragraph (款), longer sections at sentence ends.",
    )
    hard_max_chars: int = Field(
        2000,
        ge=200,
        description="A single sentence longer than this (no punctuation at all) is cut anyway.",
    )


class LLMSettings(Section):
    provider: Literal["none", "openai", "ollama", "llamacpp"] = Field(
        "none", description="'none' answers extractively; otherwise the chat model backend."
    )
    base_url: str | None = Field(None, description="OpenAI-compatible or Ollama server URL.")
    model: str | None = Field(None, description="Model name on the server, or a GGUF path.")
    api_key: SecretStr | None = Field(None, description="API key for the server, if it wants one.")
    timeout_s: float = Field(60, gt=0, description="Seconds before a model call is abandoned.")
    max_retries: int = Field(0, ge=0, le=5, description="Retries of a failed model call before falling back.")
    temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature; low keeps answers close to the passages.")
    max_tokens: int = Field(1024, ge=16, le=32768, description="Longest answer the model may write, in tokens.")


class AnswerSettings(Section):
    passages: int = Field(6, ge=1, le=20, description="Retrieved passages an answer may cite.")
    min_support: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Questions whose support (0..1: how well the materials cover them, from the share of "
        "their key terms the corpus knows, the nearest passage and how legal their words are; see "
        "assistant/coverage.py) is below this are declined. Calibrated for use-m3 by `python -m evals.answers "
        "--fit`; re-check with `jianxue eval answers` after changing the embedder.",
    )
    history_turns: int = Field(4, ge=0, le=50, description="Earlier turns a follow-up question is resolved against.")


class SearchSettings(Section):
    k: int = Field(8, ge=1, le=100, description="Hits returned when the caller does not say.")
    reranker: str | None = Field(
        None,
        description="A sentence-transformers CrossEncoder (local folder or name) that reorders the top "
        "candidates; empty keeps the built-in ranker's order.",
    )


class HttpSettings(Section):
    rate_per_minute: int = Field(120, ge=1, description="Requests per minute per API key before 429.")
    burst: int = Field(30, ge=1, description="Requests a key may make at once before the rate applies.")
    max_upload_mb: float = Field(20, gt=0, description="Largest document upload; larger bodies get 413.")
    max_json_kb: int = Field(256, ge=1, description="Largest JSON request body; larger bodies get 413.")
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:6379/0) to share the rate limit between API workers; "
        "empty counts per process.",
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins whose pages may call the API (the widget on intranet portals); keys travel "
        "in the Authorization header, never in cookies.",
    )


class TelegramSettings(Section):
    token: SecretStr | None = Field(None, description="The bot's token from @BotFather.")
    base_url: str = Field(
        "https://api.telegram.org/bot",
        description="Bot API base URL, the token appended (a local Bot API server or a test double otherwise).",
    )
    webhook_url: str | None = Field(
        None, description="Public HTTPS URL Telegram posts updates to; empty polls for updates instead."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="secret_token Telegram sends with every webhook update; required with webhook_url."
    )
    listen: str = Field("127.0.0.1", description="Address the webhook server listens on (behind your proxy).")
    port: int = Field(8443, ge=1, le=65535, description="Port the webhook server listens on.")
    edit_interval_s: float = Field(
        1.5, ge=0.5, le=30, description="Seconds between edits of a message while a model writes the answer."
    )
    pairing_hours: float = Field(72, gt=0, description="How long a pairing code made by `jianxue bot pair` stays valid.")
    nudge_hours: float = Field(
        24, ge=0, description="Members with reviews due are reminded at most this often; 0 never reminds."
    )


class Settings(BaseSettings):
    """Everything jianxue reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="JIANXUE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(
        Path(".jianxue"),
        description="Where the embedded default keeps the Chroma index, the ledger and "
        "learner data.",
    )
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings, description="The embedding model for chunks and queries.")
    chroma: ChromaSettings = Field(default_factory=ChromaSettings, description="The vector store.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="The SQL database (ledger, learners).")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Limits and chunking for ingest.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="The chat model; 'none' keeps everything extractive.")
    search: SearchSettings = Field(default_factory=SearchSettings, description="Search defaults.")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="Grounded answers and refusals.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="The HTTP API (jianxue serve).")
    telegram: TelegramSettings = Field(default_factory=TelegramSettings, description="The Telegram bot.")

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def scaled_out(self) -> bool:
        """A Chroma server and a database server: several processes (and hosts) may serve and write."""
        return bool(self.chroma.url) and not self.database_url.startswith("sqlite")

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'jianxue.sqlite3').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; keyword overrides win."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"JIANXUE_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with secrets replaced by '***'."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = _mask_url(settings.database_url)
    for section, key in (("llm", "api_key"), ("telegram", "token"), ("telegram", "webhook_secret")):
        if getattr(getattr(settings, section), key) is not None:
            data[section][key] = "***"
    for section, key in (("chroma", "url"), ("llm", "base_url"), ("http", "redis_url")):
        if data[section][key]:
            data[section][key] = _mask_url(data[section][key])
    return data


def _mask_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except Exception:  # not an SQLAlchemy URL (plain http): mask user:pass@ by hand
        head, sep, tail = url.partition("://")
        if sep and "@" in tail:
            return f"{head}://***@{tail.split('@', 1)[1]}"
        return url
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)
