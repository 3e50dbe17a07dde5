"""Optional YAML front matter at the top of a text file.

```
---
title: 正当防卫的认定
kind: material            # statute | interpretation | case | material | qa
line: criminal            # criminal | civil | administrative | public_interest | general
access: [刑事检察部]       # departments allowed to see it; omitted = everyone
tags: [正当防卫, 防卫过当]
date: 2024-03-01
---
```
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import yaml

from assistant.errors import UnreadableFile
from assistant.models import Kind, Line

KNOWN_KEYS = {"title", "kind", "line", "access", "tags", "date", "case_no", "short", "guiding", "teaching"}


@dataclass(frozen=True, slots=True)
class FrontMatter:
    title: str | None = None
    kind: Kind | None = None
    line: Line | None = None
    access: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    date: str | None = None
    case_no: str | None = None
    short: str | None = None
    guiding: bool | None = None


def split_front_matter(text: str) -> tuple[FrontMatter, str]:
    """Return the parsed front matter (empty if none) and the body after it."""
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---"):
        return FrontMatter(), text
    first_newline = stripped.find("\n")
    if first_newline < 0 or stripped[:first_newline].strip() != "---":
        return FrontMatter(), text
    end = stripped.find("\n---", first_newline)
    while end >= 0 and stripped[end + 4: end + 5] not in ("", "\n", "\r", " ", "\t"):
        end = stripped.find("\n---", end + 4)
    if end < 0:
        raise UnreadableFile("front matter opened with '---' but never closed")
    raw = stripped[first_newline + 1: end]
    body_start = stripped.find("\n", end + 4)
    body = "" if body_start < 0 else stripped[body_start + 1:]
    return parse_front_matter(raw), body


def parse_front_matter(raw: str) -> FrontMatter:
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise UnreadableFile(f"front matter is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise UnreadableFile("front matter must be 'key: value' lines")
    unknown = sorted(set(map(str, data)) - KNOWN_KEYS)
    if unknown:
        raise UnreadableFile(f"front matter has unknown keys {unknown}; known: {sorted(KNOWN_KEYS)}")
    return FrontMatter(
        title=_text(data.get("title")),
        kind=_enum(Kind, data.get("kind"), "kind"),
        line=_enum(Line, data.get("line"), "line"),
        access=_list(data["access"]) if "access" in data else None,
        tags=_list(data.get("tags")),
        date=_date(data.get("date")),
        case_no=_text(data.get("case_no")),
        short=_text(data.get("short")),
        guiding=bool(data["guiding"]) if "guiding" in data else None,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _enum(enum: type[Kind] | type[Line], value: object, key: str):
    if value is None:
        return None
    try:
        return enum(str(value).strip())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise UnreadableFile(f"front matter {key}: {value!r} is not one of {allowed}") from None


def _list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.replace("，", ",").split(",")
    elif isinstance(value, list):
        items = [str(item) for item in value]
    else:
        raise UnreadableFile(f"front matter expected a list, got {value!r}")
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def _date(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip() or None
