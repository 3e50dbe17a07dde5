"""One error tree. Adapters translate these once, at their edge."""

from __future__ import annotations


class JianxueError(Exception):
    """Base of every error jianxue raises on purpose. ``str(e)`` is meant for users."""

    code = "error"


class ConfigError(JianxueError):
    code = "config_error"


class CorpusError(JianxueError):
    """The corpus or index is missing, inconsistent or built for another embedder."""

    code = "corpus_error"


class IngestError(JianxueError):
    """A whole ingest could not run (as opposed to one file being skipped)."""

    code = "ingest_error"


class UnreadableFile(IngestError):
    """One file cannot be read; the run skips it with this message as the reason."""

    code = "unreadable_file"


class UnsupportedType(IngestError):
    """A file whose content is no format jianxue reads (whatever its name says)."""

    code = "unsupported_type"


class WriterBusy(JianxueError):
    """Another process holds the data directory's writer lock."""

    code = "writer_busy"


class EmbedderUnavailable(JianxueError):
    code = "embedder_unavailable"


class StoreUnavailable(JianxueError):
    """A server jianxue depends on (Chroma, the database) cannot be reached right now."""

    code = "store_unavailable"


class DatabaseUnavailable(StoreUnavailable):
    code = "database_unavailable"


class AccessDenied(JianxueError):
    code = "access_denied"


class NotFound(JianxueError):
    code = "not_found"


class InvalidRequest(JianxueError):
    """What was sent cannot be done as it stands (an empty question, an unknown line); say why."""

    code = "invalid_request"


class Conflict(JianxueError):
    """Someone else got there first (a question another expert has claimed)."""

    code = "conflict"


class UnverifiedAnswer(InvalidRequest):
    """An expert's answer with claims that do not check out against the passages: fix and send again."""

    code = "unverified_answer"

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class LLMUnavailable(JianxueError):
    code = "llm_unavailable"
