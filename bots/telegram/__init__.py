"""The Telegram adapter (python-telegram-bot v22): `jianxue bot telegram`."""
