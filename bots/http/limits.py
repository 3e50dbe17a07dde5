"""Per-key rate limit and request body caps."""

from __future__ import annotations

import logging
import threading
import time

from bots.http.errors import error

log = logging.getLogger("jianxue.http")


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
            if len(self._buckets) > 100_000:  # many keys or addresses: forget the full (idle) buckets
                self._buckets = {k: v for k, v in self._buckets.items()
                                 if min(self.burst, v[0] + (now - v[1]) * self.rate) < self.burst}
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def waiting(self, key: str) -> float:
        """Seconds until ``key`` may take again (0 now), without taking."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


class RedisRateLimiter:
    """The same token bucket kept in Redis, so that every API worker counts against one budget.
    If Redis cannot be reached the request is let through (and logged): a rate limit is not
    worth an outage."""

    _SCRIPT = """
    local now = redis.call('TIME')
    local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
    local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or burst
    local at = tonumber(state[2]) or t
    tokens = math.min(burst, tokens + (t - at) * rate)
    local wait = 0
    if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
    redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', t)
    redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
    return tostring(wait)
    """

    def __init__(self, url: str, per_minute: int, burst: int) -> None:
        import redis

        self.rate = per_minute / 60.0
        self.burst = burst
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(self._SCRIPT)

    def take(self, key: str) -> float:
        import redis

        try:
            return float(self._script(keys=[f"jianxue:rate:{key}"], args=[self.rate, self.burst]))
        except redis.RedisError as exc:
            log.warning("rate limit not checked, Redis unavailable: %s", exc)
            return 0.0


class HeaderLimit:
    """Pure ASGI middleware, outermost: 431 for a request head over the cap, before anything
    (a key lookup, a route) reads it."""

    def __init__(self, app, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope.get("headers") or ()) > self.max_bytes:
            return await error(431, "headers_too_large", f"request headers over {self.max_bytes // 1024} KB")(
                scope, receive, send)
        return await self.app(scope, receive, send)


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies over the cap, by Content-Length or as they stream in.
    A refused upload is audited (``audit`` is the API's audit log)."""

    def __init__(self, app, *, json_bytes: int, upload_bytes: int, audit=None) -> None:
        self.app, self.json_bytes, self.upload_bytes, self.audit = app, json_bytes, upload_bytes, audit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        upload = scope["path"].startswith("/v1/documents")
        limit = self.upload_bytes if upload else self.json_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._audit(scope, upload)
            return await _too_big(limit)(scope, receive, send)
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
            self._audit(scope, upload)
            await _too_big(limit)(scope, receive, send)

    def _audit(self, scope, upload: bool) -> None:
        if self.audit is not None:
            client = (scope.get("client") or ("unknown",))[0]
            self.audit.write("upload_rejected" if upload else "body_rejected", path=scope["path"], client=client,
                             reason="too_large")


def _too_big(limit: int):
    return error(413, "too_large", f"request body over {limit // 1024} KB")


class _TooLarge(Exception):
    pass
