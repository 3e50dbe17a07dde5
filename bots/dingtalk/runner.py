"""`jianxue bot dingtalk`: the conversation core (assistant/conversation) behind the DingTalk robot.

The assistant is built once, its question embedder served while the robot runs and closed after;
the stream hands every delivery to ``Conversations.handle`` and sends its replies as they come;
what the core sends on its own (``Conversations.pushes``: reminders of due reviews, at most once
per ``JIANXUE_DINGTALK__NUDGE_HOURS``, and what extensions have to say) goes out through
:meth:`DingtalkClient.push`. Everything a chat needs to go on (members, history, open
questions, deliveries seen) is in the database, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Sequence

from assistant.config import Settings
from assistant.conversation.core import Conversations, Extension, push_period_s, settle
from assistant.conversation.extensions import default_extensions
from assistant.conversation.store import ConversationStore
from assistant.errors import ConfigError
from assistant.service import Assistant, build_assistant
from bots.dingtalk.errors import DingtalkAPIError
from bots.dingtalk.inbound import CHANNEL
from bots.dingtalk.stream import DingtalkStream

log = logging.getLogger("jianxue.dingtalk")


class DingtalkRunner:
    """Serves the robot (``await serve()``) until ``await stop()``."""

    def __init__(self, settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant,
                 extensions: Sequence[Extension] | None = None) -> None:
        settings.dingtalk.check()  # names a missing setting before anything starts
        self.settings, self.assistant_factory, self.extensions = settings, assistant_factory, extensions  # None: the defaults
        self.conversations: Conversations | None = None
        self.stream: DingtalkStream | None = None
        self._stopped = False

    async def serve(self) -> None:
        assistant = self.assistant_factory(self.settings)
        nudging: asyncio.Task | None = None
        try:
            assistant.serve_questions()
            if self.extensions is None:
                self.extensions = default_extensions(assistant)
            self.conversations = Conversations(assistant, ConversationStore(assistant.docstore.engine),
                                               extensions=self.extensions)
            self.stream = DingtalkStream(self.settings.dingtalk, self.conversations.handle)
            await self._check_credentials()
            if self.settings.dingtalk.nudge_hours or any(e.pushes for e in self.conversations.extensions):
                nudging = asyncio.create_task(self._push_forever(), name="dingtalk-pushes")
            if not self._stopped:
                await self.stream.run()
        finally:
            if nudging is not None:
                nudging.cancel()
                await asyncio.gather(nudging, return_exceptions=True)
            assistant.close()

    async def stop(self) -> None:
        self._stopped = True
        if self.stream is not None:
            await self.stream.stop()

    async def _check_credentials(self) -> None:
        """A Client ID or Secret DingTalk refuses stops the robot with that said (the SDK would retry
        forever); DingTalk out of reach does not: the stream keeps trying."""
        assert self.stream is not None
        try:
            await self.stream.client.access_token()
        except DingtalkAPIError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                await self.stream.client.aclose()
                raise ConfigError("DingTalk refused JIANXUE_DINGTALK__CLIENT_ID / __CLIENT_SECRET (copy both from the "
                                  f"application's 凭证与基础信息 page): {exc}") from None
            log.warning("DingTalk not reached yet (%s); the stream keeps trying", exc)

    # -- on its own ---------------------------------------------------------------------------------

    async def _push_forever(self) -> None:
        every_s = push_period_s(self.settings.dingtalk.nudge_hours)
        await asyncio.sleep(every_s)
        while True:
            try:
                await self.push()
            except Exception:  # the database away for a while: the next round tries again
                log.exception("pushes failed this time")
            await asyncio.sleep(every_s)

    async def push(self) -> int:
        """Sends what the core has to send on its own now, and tells it how each went; how many went out."""
        assert self.conversations is not None and self.stream is not None
        pushes = await asyncio.to_thread(self.conversations.pushes, CHANNEL,
                                         nudge_hours=self.settings.dingtalk.nudge_hours)
        sent = 0
        for push in pushes:
            try:
                await self.stream.client.push(push)
            except DingtalkAPIError as exc:  # one member out of reach stops no one else's message
                log.warning("could not send %s to %s: %s", push.key or "a push", push.user_id, exc)
                await settle(push, False)
            except Exception:  # noqa: BLE001 - not DingTalk's refusal (a bug, a card without its template)
                log.exception("could not send %s to %s", push.key or "a push", push.user_id)
                await settle(push, False)
            else:
                sent += 1
                await settle(push, True)
        return sent


def run(settings: Settings, **build) -> None:
    """`jianxue bot dingtalk`: blocks until Ctrl-C or SIGTERM."""
    runner = DingtalkRunner(settings, **build)
    logging.getLogger("jianxue.dingtalk.sdk").setLevel(logging.WARNING)  # its info lines carry connection tickets

    async def main() -> None:
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: loop.create_task(runner.stop()))
        await runner.serve()

    asyncio.run(main())
