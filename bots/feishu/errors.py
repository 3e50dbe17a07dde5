"""The Feishu adapter's errors, in jianxue's one error tree. Their text is for the log and the
operator; a member never sees it."""

from __future__ import annotations

from assistant.errors import JianxueError


class EventRejected(JianxueError):
    """A webhook request that is not Feishu's (bad signature or verification token), cannot be
    read, or is malformed: answered with ``status`` (4xx) and handed to nobody."""

    code = "feishu_event_rejected"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class FeishuAPIError(JianxueError):
    """A Feishu API call that failed for good (after the retries a passing failure gets)."""

    code = "feishu_api_error"

    def __init__(self, message: str, *, status: int | None = None, feishu_code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.feishu_code = status, feishu_code
