"""Thin adapters over the assistant core (Telegram, HTTP)."""
