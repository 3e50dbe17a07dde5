"""What every `jianxue` command shares: the two consoles, JSON output, the Assistant."""

from __future__ import annotations

import json
import sys

from rich.console import Console

from assistant.config import load_settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def load_assistant():
    from assistant.service import build_assistant

    return build_assistant(load_settings())


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
