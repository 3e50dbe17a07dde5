"""Per-key rate limit and request body caps."""

from __future__ import annotations

import threading
import time

from bots.http.errors import error


class RateLimiter:
    """Token bucket per key: ``burst`` at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies over the cap, by Content-Length or as they stream in."""

    def __init__(self, app, *, json_bytes: int, upload_bytes: int) -> None:
        self.app, self.json_bytes, self.upload_bytes = app, json_bytes, upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        limit = self.upload_bytes if scope["path"].startswith("/v1/documents") else self.json_bytes
        declared = headers.get(b"content-length")
        too_big = error(413, "too_large", f"request body over {limit // 1024} KB")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await too_big(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass
