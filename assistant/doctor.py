"""`jianxue doctor`: check every part the settings name, and say what is wrong and what to do.

Each check returns a :class:`Check`; none raises. Servers are given a few seconds each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from assistant.config import Settings, masked_settings

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def diagnose(settings: Settings) -> list[Check]:
    from assistant.service import build_assistant

    assistant = build_assistant(settings)
    checks: list[Callable[[], Check]] = [
        lambda: _data_dir(settings), lambda: _database(assistant), lambda: _store(assistant),
        lambda: _embedder(assistant), lambda: _index(assistant), lambda: _llm(settings)]
    if settings.http.redis_url:
        checks.append(lambda: _redis(settings))
    if settings.telegram.token is not None:
        checks.append(lambda: _telegram(settings))
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not crash
            results.append(Check(getattr(check, "__name__", "check"), False, f"{type(exc).__name__}: {exc}"))
    return results


def _data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doctor-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("data directory", False, f"{folder}: {exc.strerror or exc}",
                     "make it writable for this user, or point JIANXUE_DATA_DIR elsewhere")
    return Check("data directory", True, str(folder.resolve()))


def _database(assistant) -> Check:
    from assistant.db import schema_revision

    where = masked_settings(assistant.settings)["database"]["url"]
    try:
        engine = assistant.docstore.engine  # opening it migrates the schema
        revision = schema_revision(engine)
        documents = len(assistant.docstore.load())
    except Exception as exc:  # noqa: BLE001
        server = not assistant.settings.database_url.startswith("sqlite")
        return Check("database", False, f"{where}: {exc}",
                     "start PostgreSQL or correct JIANXUE_DATABASE__URL (postgresql+psycopg://user:pass@host/db)"
                     if server else "check that the data directory is writable and not on a network share")
    return Check("database", True, f"{where} (schema {revision}, {documents} documents)")


def _store(assistant) -> Check:
    url = assistant.settings.chroma.url
    where = f"Chroma server {url}" if url else f"Chroma on disk {assistant.settings.chroma_path}"
    try:
        count = assistant.store.count()
    except Exception as exc:  # noqa: BLE001
        fix = (f"start it (chroma run --path /srv/jianxue/chroma --host 0.0.0.0 --port {_port(url)}) or unset "
               "JIANXUE_CHROMA__URL" if url else "check the data directory; if the index is damaged, move chroma/ away "
               "and ingest again")
        return Check("vector store", False, f"{where}: {exc}", fix)
    return Check("vector store", True, f"{where}, collection {assistant.settings.chroma.collection}, {count} vectors")


def _embedder(assistant) -> Check:
    name = assistant.settings.embedder.name
    try:
        embedder = assistant.embedder()  # loading the model is not what a question costs
        embedder.embed_query("预热")
        started = time.perf_counter()
        vector = embedder.embed_query("正当防卫的限度怎么认定")
        ms = (time.perf_counter() - started) * 1000
    except Exception as exc:  # noqa: BLE001
        return Check("embedder", False, f"{name}: {exc}",
                     "use JIANXUE_EMBEDDER__NAME=use-m3, or give a local model folder: sentence-transformers:/srv/models/x")
    recorded = (assistant.docstore.get_meta("embedder") or "").rpartition("@")[0]
    if recorded and recorded != name:
        return Check("embedder", False, f"{name} is configured but the index was built with {recorded}",
                     f"set JIANXUE_EMBEDDER__NAME={recorded}, or ingest into a fresh JIANXUE_DATA_DIR")
    return Check("embedder", True, f"{name}, {len(vector)}-d, one question in {ms:.0f} ms")


def _index(assistant) -> Check:
    stats = assistant.stats()
    if not stats["documents"]:
        return Check("index", False, "nothing is indexed yet", "jianxue ingest /path/to/materials")
    if stats["unfinished"]:
        return Check("index", False, f"{stats['unfinished']} documents from an interrupted ingest",
                     "run the same ingest again; it finishes what was started")
    stored = assistant.store.count()
    chunks = stats["chunks"]
    if stored != chunks:
        return Check("index", False, f"the docstore has {chunks} passages, the vector store {stored}",
                     "run the last ingest again: it repairs both sides")
    return Check("index", True, f"{stats['documents']} documents, {chunks} passages, generation "
                                f"{assistant.docstore.generation()}")


def _llm(settings: Settings) -> Check:
    llm = settings.llm
    if llm.provider == "none":
        return Check("language model", True, "none: answers are extractive, quizzes from templates")
    if llm.provider == "llamacpp":
        path = os.path.expanduser(llm.model or "")
        ok = bool(path) and os.path.isfile(path)
        return Check("language model", ok, f"llama.cpp model {path or '(none)'}" + ("" if ok else " not found"),
                     "" if ok else "set JIANXUE_LLM__MODEL to the path of a .gguf file")
    import httpx

    base = (llm.base_url or ("http://127.0.0.1:11434" if llm.provider == "ollama" else "")).rstrip("/")
    if not base:
        return Check("language model", False, "no JIANXUE_LLM__BASE_URL", "set it to your server's URL (…/v1)")
    url = f"{base}/api/tags" if llm.provider == "ollama" else f"{base}/models"
    headers = {"Authorization": f"Bearer {llm.api_key.get_secret_value()}"} if llm.api_key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check("language model", False, f"{llm.provider} at {base}: {type(exc).__name__}",
                     "start the model server or correct JIANXUE_LLM__BASE_URL; until then answers stay extractive")
    if response.status_code >= 400:
        return Check("language model", False, f"{url} answered {response.status_code}",
                     "check JIANXUE_LLM__API_KEY and the URL (OpenAI-compatible servers end in /v1)")
    return Check("language model", True, f"{llm.provider} at {base}, model {llm.model or '(server default)'}")


def _redis(settings: Settings) -> Check:
    import redis

    try:
        redis.Redis.from_url(settings.http.redis_url, socket_timeout=TIMEOUT_S).ping()
    except redis.RedisError as exc:
        return Check("redis", False, str(exc), "start Redis or unset JIANXUE_HTTP__REDIS_URL (limits then count per worker)")
    return Check("redis", True, "rate limits shared between API workers")


def _telegram(settings: Settings) -> Check:
    import httpx

    token = settings.telegram.token.get_secret_value()
    try:
        response = httpx.get(f"{settings.telegram.base_url}{token}/getMe", timeout=TIMEOUT_S)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check("telegram", False, f"{settings.telegram.base_url}: {type(exc).__name__}",
                     "the Bot API must be reachable (or run a local Bot API server: JIANXUE_TELEGRAM__BASE_URL)")
    if not data.get("ok"):
        return Check("telegram", False, data.get("description", "getMe failed"), "check JIANXUE_TELEGRAM__TOKEN")
    return Check("telegram", True, f"@{data['result'].get('username')}")


def _port(url: str | None) -> int:
    from urllib.parse import urlparse

    return (urlparse(url).port if url else None) or 8000
