"""The Telegram bot: python-telegram-bot's Application over the conversation core.

`jianxue bot telegram` runs it: polling by default, a webhook with a secret token when
JIANXUE_TELEGRAM__WEBHOOK_URL is set. The core is built once, in post_init; Telegram's
flood limits are kept by PTB's rate limiter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from assistant.config import Settings
from assistant.conversation.core import Conversations, push_period_s
from assistant.conversation.extensions import default_extensions
from assistant.conversation.store import ConversationStore
from assistant.errors import ConfigError
from assistant.service import Assistant, build_assistant
from bots.telegram import handlers

log = logging.getLogger("jianxue.telegram")

COMMANDS = [("quiz", "五道测验题，可加主题"), ("review", "到期复习"), ("progress", "掌握情况"),
            ("tasks", "训练任务"), ("daily", "每日一练"), ("mistakes", "错题本"), ("hours", "学时"),
            ("line", "选择检察业务条线"), ("queue", "待解答的问题（专家）"),
            ("new", "开始新的对话"), ("help", "使用说明")]


def build_application(settings: Settings, *,
                      assistant_factory: Callable[[Settings], Assistant] = build_assistant) -> Application:
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError("set JIANXUE_TELEGRAM__TOKEN to the bot's token from @BotFather")

    async def post_init(application: Application) -> None:
        assistant = assistant_factory(settings)
        assistant.serve_questions()
        conversations = Conversations(assistant, ConversationStore(assistant.docstore.engine),
                                      extensions=default_extensions(assistant))
        application.bot_data["runtime"] = handlers.Runtime(conversations, settings.telegram)
        await application.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        if application.job_queue is not None:  # reminders (every nudge_hours) and the extensions' messages
            every_s = push_period_s(settings.telegram.nudge_hours)
            application.job_queue.run_repeating(handlers.push, interval=every_s, first=every_s, name="pushes")

    async def post_shutdown(application: Application) -> None:
        rt = application.bot_data.get("runtime")
        if rt is not None:
            rt.conversations.assistant.close()

    application = (
        Application.builder()
        .token(token.get_secret_value().strip())
        .base_url(settings.telegram.base_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(8)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, handlers.on_message))
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(PollAnswerHandler(handlers.on_poll_answer))
    application.add_error_handler(handlers.on_error)
    return application


def run(settings: Settings, *, in_thread: bool = False, **build) -> None:
    """Poll, or serve the webhook when a public URL is configured (blocks until stopped).
    ``in_thread`` leaves signal handling to the caller (signals reach only the main thread)."""
    application = build_application(settings, **build)
    telegram = settings.telegram
    signals = {"stop_signals": None} if in_thread else {}
    if telegram.webhook_url:
        if telegram.webhook_secret is None:
            raise ConfigError("a webhook needs JIANXUE_TELEGRAM__WEBHOOK_SECRET (Telegram sends it with each update)")
        path = urlparse(telegram.webhook_url).path.lstrip("/")
        log.info("webhook on %s:%s/%s", telegram.listen, telegram.port, path)
        application.run_webhook(listen=telegram.listen, port=telegram.port, url_path=path,
                                webhook_url=telegram.webhook_url, allowed_updates=Update.ALL_TYPES,
                                secret_token=telegram.webhook_secret.get_secret_value(), **signals)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES, **signals)
