"""The DingTalk adapter's errors, in jianxue's one error tree. Their text is for the log and the
operator; a member never sees it."""

from __future__ import annotations

from assistant.errors import JianxueError


class DeliveryError(JianxueError):
    """A delivery on the stream that is malformed, for another robot, or stale: it is ACKed and
    ignored, and nothing is handed on."""

    code = "dingtalk_bad_delivery"


class DingtalkAPIError(JianxueError):
    """A DingTalk API call that failed for good (after the retries a passing failure gets)."""

    code = "dingtalk_api_error"

    def __init__(self, message: str, *, status: int | None = None, errcode: str | int | None = None) -> None:
        super().__init__(message)
        self.status, self.errcode = status, errcode
