"""What every `jianxue` command shares: the two consoles, JSON output, the Assistant, --as-dept."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from assistant.config import load_settings
from assistant.models import Line, Principal

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def load_assistant():
    from assistant.service import build_assistant

    return build_assistant(load_settings())


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def principal(as_dept: list[str] | None) -> Principal:
    return Principal(user="cli", role="learner", departments=tuple(as_dept)) if as_dept else Principal.local_admin()


AsDept = Annotated[Optional[list[str]], typer.Option(
    "--as-dept", help="Ask as a member of this department (repeatable); default sees everything.")]
LineOption = Annotated[Optional[list[Line]], typer.Option(help="Only material of these lines (repeatable).")]
