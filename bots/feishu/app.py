"""`jianxue bot feishu`: the conversation core behind the Feishu / Lark bot, by webhook or by
long connection (JIANXUE_FEISHU__MODE).

    webhook_app(feishu, core)           the Starlette app of the request URL over any Core
    build_app(settings)                 the same over the real core (the assistant built when it starts)
    LongConnection(feishu, bot)         lark-oapi's ws.Client on a thread of its own, started and stopped
    FeishuRunner(settings).serve()      ws mode: the core, the bot and the long connection until stop()
    run(settings)                       either mode until Ctrl-C / SIGTERM

Both modes use lark-oapi's EventDispatcherHandler for the events; the bot answers each at once
and sends its replies through the message API afterwards (bot.py). Everything a chat needs to go
on (members, history, open questions, the event ids handled) is in the database, so a restart
loses nothing and an event Feishu delivers again after it is still answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from assistant.config import FeishuSettings, Settings
from assistant.conversation.extensions import serving_core
from assistant.errors import ConfigError
from assistant.service import Assistant, build_assistant
from bots.common import read_body
from bots.feishu.bot import Core, FeishuBot, dispatcher
from bots.feishu.client import FeishuClient
from bots.feishu.errors import EventRejected, FeishuAPIError
from bots.feishu.inbound import CARD_EVENT, MESSAGE_EVENT
from bots.feishu.webhook import MAX_BODY_BYTES, NONCE, SIGNATURE, TIMESTAMP, URL_VERIFICATION, open_event

log = logging.getLogger("jianxue.feishu")

CoreFactory = Callable[[], AbstractAsyncContextManager[Core]]
STOP_GRACE_S = 10


def real_core(settings: Settings, assistant_factory: Callable[[Settings], Assistant] = build_assistant) -> CoreFactory:
    """The conversation core over an assistant built when entered and closed when left."""
    return serving_core(settings, assistant_factory)


async def check_credentials(client: FeishuClient) -> None:
    """An App ID / Secret Feishu refuses stops the bot with that said; Feishu out of reach does not."""
    try:
        await client.access_token()
    except FeishuAPIError as exc:
        if exc.status == 401:
            raise ConfigError("Feishu refused JIANXUE_FEISHU__APP_ID / __APP_SECRET (copy both from the "
                              f"application's 凭证与基础信息 page): {exc}") from None
        log.warning("Feishu not reached yet (%s); trying again with the first message", exc)


# -- webhook ------------------------------------------------------------------------------------------


def build_app(settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant,
              **build) -> Starlette:
    return webhook_app(settings.feishu, real_core(settings, assistant_factory), **build)


def webhook_app(feishu: FeishuSettings, core: CoreFactory, *, client: FeishuClient | None = None,
                push_check_s: float | None = None) -> Starlette:
    """The request URL (event and card callbacks alike); ``core`` is entered when the server starts."""
    feishu.check()
    if feishu.mode != "webhook":
        raise ConfigError("the webhook app needs JIANXUE_FEISHU__MODE=webhook")
    api = client or FeishuClient(feishu)
    key, token = feishu.encrypt_key.get_secret_value(), feishu.verification_token.get_secret_value()  # type: ignore
    state: dict = {}

    async def receive(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            if body is None:
                raise EventRejected("the body is too large", status=413)
            event = open_event(body, request.headers, encrypt_key=key, verification_token=token)
        except EventRejected as exc:
            client_host = request.client.host if request.client else "?"
            log.warning("webhook request from %s refused: %s", client_host, exc)
            return PlainTextResponse(str(exc), status_code=exc.status)
        if event.get("type") == URL_VERIFICATION:
            return JSONResponse({"challenge": event["challenge"]})
        kind = (event.get("header") or {}).get("event_type")
        if kind not in (MESSAGE_EVENT, CARD_EVENT):
            return JSONResponse({"msg": "success"})  # acknowledged and dropped, so that Feishu does not retry
        from lark_oapi.core.model import RawRequest

        raw = RawRequest()
        raw.uri, raw.body = request.url.path, body
        raw.headers = {name: request.headers.get(name, "") for name in (TIMESTAMP, NONCE, SIGNATURE)}
        answer = state["dispatcher"].do(raw)  # the handlers only parse and hand on: quick
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            await check_credentials(api)
            async with core() as conversations:
                bot = FeishuBot(feishu, conversations, api)
                await bot.start()
                state["dispatcher"] = dispatcher(feishu, bot)
                pushing = asyncio.get_running_loop().create_task(bot.push_forever(check_s=push_check_s))
                try:
                    yield
                finally:
                    pushing.cancel()
                    await bot.drain()
        finally:
            await api.aclose()

    return Starlette(routes=[Route(feishu.path, receive, methods=["POST"])], lifespan=lifespan)


# -- long connection -------------------------------------------------------------------------------------


class LongConnection:
    """lark-oapi's ws.Client (POST <domain>/callback/ws/endpoint for the connection URL, then a
    WebSocket of protobuf frames, pings, reconnects) on a thread with an event loop of its own.
    Its ``start()`` blocks for good on the loop its module took at import, and its constructor
    starts a task on the current loop; so both happen on the thread, with the module's loop set to
    the thread's. The SDK has no stop: ``stop()`` turns reconnecting off, closes the connection
    and cancels what the SDK left running, which ends ``start()``. One long connection per process."""

    def __init__(self, feishu: FeishuSettings, handler) -> None:
        self.feishu, self.handler = feishu, handler
        self.sdk = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="feishu-ws", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        import lark_oapi as lark
        import lark_oapi.ws.client as sdk_module

        asyncio.set_event_loop(self._loop)
        sdk_module.loop = self._loop
        try:
            secret = self.feishu.app_secret.get_secret_value()  # type: ignore[union-attr]
            self.sdk = lark.ws.Client(self.feishu.app_id, secret, event_handler=self.handler,
                                      domain=self.feishu.base_url, log_level=lark.LogLevel.WARNING)
            self.sdk.start()
        except asyncio.CancelledError:
            if not self._stopping:
                self.error = RuntimeError("the SDK's loop was cancelled")
        except BaseException as exc:  # noqa: BLE001 - e.g. credentials refused: surfaced by the runner
            if not self._stopping:
                self.error = exc
                log.error("the long connection ended: %r", exc)
        finally:
            left = asyncio.all_tasks(self._loop)  # stop()'s own task among them
            if left:
                self._loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            self._loop.close()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._stopping = True

        async def close() -> None:
            if self.sdk is not None:
                self.sdk._auto_reconnect = False  # noqa: SLF001 - no reconnect after this
                with contextlib.suppress(Exception):
                    await self.sdk._disconnect()  # noqa: SLF001
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:  # the receive and ping loops, the cache's cron, and start()'s wait
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop)
        self._thread.join(timeout=STOP_GRACE_S)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class FeishuRunner:
    """ws mode: ``await serve()`` until ``await stop()``."""

    def __init__(self, settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant,
                 core: CoreFactory | None = None, push_check_s: float | None = None) -> None:
        settings.feishu.check()
        self.settings, self.push_check_s = settings, push_check_s
        self.core = core or real_core(settings, assistant_factory)
        self.bot: FeishuBot | None = None
        self.connection: LongConnection | None = None
        self._stopping = asyncio.Event()

    async def serve(self) -> None:
        feishu = self.settings.feishu
        client = FeishuClient(feishu)
        try:
            await check_credentials(client)
            async with self.core() as conversations:
                self.bot = FeishuBot(feishu, conversations, client)
                await self.bot.start()
                self.connection = LongConnection(feishu, dispatcher(feishu, self.bot))
                self.connection.start()
                pushing = asyncio.create_task(self.bot.push_forever(check_s=self.push_check_s))
                try:
                    while not self._stopping.is_set() and self.connection.alive:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._stopping.wait(), timeout=0.5)
                finally:
                    pushing.cancel()
                    await asyncio.to_thread(self.connection.stop)
                    await self.bot.drain(STOP_GRACE_S)
                if self.connection.error is not None and not self._stopping.is_set():
                    raise ConfigError(f"the Feishu long connection failed: {self.connection.error}")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        self._stopping.set()


def run(settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant) -> None:
    """Serve until Ctrl-C / SIGTERM. The database is opened first, so that a problem with it is
    reported as such before anything is served."""
    feishu = settings.feishu
    feishu.check()
    assistant = assistant_factory(settings)
    assistant.docstore  # noqa: B018 - opens (and migrates) the database now
    factory = lambda _settings: assistant  # noqa: E731
    if feishu.mode == "webhook":
        import uvicorn

        async def credentials() -> None:  # refused here, before uvicorn, it is said plainly
            client = FeishuClient(feishu)
            try:
                await check_credentials(client)
            finally:
                await client.aclose()

        asyncio.run(credentials())

        log.info("Feishu webhook on http://%s:%s%s", feishu.listen, feishu.port, feishu.path)
        uvicorn.run(build_app(settings, assistant_factory=factory), host=feishu.listen, port=feishu.port,
                    log_level="info", access_log=False)
        return
    runner = FeishuRunner(settings, assistant_factory=factory)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: loop.create_task(runner.stop()))
        await runner.serve()

    asyncio.run(main())
