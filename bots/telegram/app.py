"""The Telegram bot: python-telegram-bot's Application over the Assistant.

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
    CommandHandler,
    MessageHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.service import Assistant, build_assistant
from bots.telegram import handlers
from bots.telegram.state import BotState

log = logging.getLogger("jianxue.telegram")

COMMANDS = [("quiz", "五道测验题，可加主题"), ("review", "到期复习"), ("progress", "掌握情况"),
            ("line", "选择检察业务条线"), ("new", "开始新的对话"), ("help", "使用说明")]


def build_application(settings: Settings, *,
                      assistant_factory: Callable[[Settings], Assistant] = build_assistant) -> Application:
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError("set JIANXUE_TELEGRAM__TOKEN to the bot's token from @BotFather")

    async def post_init(application: Application) -> None:
        assistant = assistant_factory(settings)
        assistant.serve_questions()
        application.bot_data["core"] = handlers.Core(assistant, BotState(assistant.ledger.engine), settings.telegram)
        await application.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        if settings.telegram.nudge_hours and application.job_queue is not None:
            application.job_queue.run_repeating(handlers.nudge, interval=3600, first=60, name="review-nudge")

    async def post_shutdown(application: Application) -> None:
        core = application.bot_data.get("core")
        if core is not None:
            core.assistant.close()

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
    application.add_handler(TypeHandler(Update, handlers.deduplicate), group=-2)
    application.add_handler(TypeHandler(Update, handlers.admit), group=-1)
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(CommandHandler("help", handlers.help_command))
    application.add_handler(CommandHandler("new", handlers.new))
    application.add_handler(CommandHandler("quiz", handlers.quiz))
    application.add_handler(CommandHandler("review", handlers.review))
    application.add_handler(CommandHandler("progress", handlers.progress))
    application.add_handler(CommandHandler("line", handlers.line))
    application.add_handler(CallbackQueryHandler(handlers.sources, pattern=f"^{handlers.SOURCES}$"))
    application.add_handler(CallbackQueryHandler(handlers.line_chosen, pattern="^line:"))
    application.add_handler(PollAnswerHandler(handlers.poll_answer))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, handlers.ask))
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
