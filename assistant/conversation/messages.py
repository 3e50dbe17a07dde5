"""Channel-neutral messages: what an adapter hands the conversation core, and what it gets back.

An adapter translates a platform delivery into an :class:`Incoming`, and each :class:`Reply`
into the platform's message: text (split with :func:`split_text` within the platform's
limit), buttons under it (a card, an inline keyboard, an action card), and a :class:`Choice`
as a native quiz poll or card with one button per option, or as text with lettered options
where the platform cannot carry it (the learner then answers ``A`` or ``AC``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

LETTERS = "ABCDEFGHIJKL"
MAX_ACTION_BYTES = 64  # Telegram's callback_data limit, the smallest of the platforms


@dataclass(frozen=True, slots=True)
class Incoming:
    """One delivery from a platform, already verified (signature, decryption) by the adapter."""

    channel: str  # telegram | wecom | dingtalk | feishu
    delivery_id: str  # the platform's id of this delivery (update, MsgId, msgId, event_id): handled once
    user_id: str  # the sender's platform id (Telegram id, WeCom UserID, DingTalk staffId, Feishu open_id)
    chat_id: str  # where replies go: the sender for a direct chat, the group otherwise
    text: str = ""  # what was typed; commands start with "/" (the adapter strips an @-mention)
    action: str = ""  # the Button.action of a pressed button
    group: bool = False
    mentioned: bool = False  # in a group: the bot was @-mentioned
    platform_departments: tuple[str, ...] = ()  # the sender's department ids on the platform, when known


@dataclass(frozen=True, slots=True)
class Button:
    label: str  # short, shown on the button
    action: str  # at most MAX_ACTION_BYTES of ASCII; comes back as Incoming.action when pressed

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES or not self.action.isascii():
            raise ValueError(f"a button action is ASCII of at most {MAX_ACTION_BYTES} bytes: {self.action!r}")


@dataclass(frozen=True, slots=True)
class Choice:
    """A quiz question to answer. ``action(i)`` is the action of option ``i``'s button for a
    single-answer question; a multiple-answer one is answered with the letters together
    (``answer_action(ref, "AC")`` from a native multi-select, or the typed text ``AC``)."""

    ref: str  # opaque reference to this delivery of the question
    number: int
    total: int
    stem: str
    options: tuple[str, ...]
    multiple: bool  # several options are correct
    # the key and a one-line explanation, for platforms whose own quiz polls grade on the spot
    # (Telegram); an adapter never shows them before the answer
    answer: tuple[int, ...] = ()
    explanation: str = ""

    def action(self, index: int) -> str:
        return answer_action(self.ref, LETTERS[index])

    def lettered(self) -> str:
        """The plain-text form: number, stem, lettered options and how to answer."""
        head = f"第{self.number}/{self.total}题{'（多选）' if self.multiple else ''}：{self.stem}"
        options = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(self.options))
        how = "回复选项字母作答，多选请连写（如 AC）。" if self.multiple else "回复选项字母作答（如 A）。"
        return f"{head}\n{options}\n{how}"


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # plain text, [n] labels included; may be longer than a platform allows: split_text()
    buttons: tuple[Button, ...] = ()
    choice: Choice | None = None  # a quiz question; ``text`` is then an optional preface


@dataclass(frozen=True, slots=True)
class Progress:
    """A model's answer so far, for platforms that can edit a message as it is written
    (Telegram); others wait for the final :class:`Reply`."""

    text: str


@dataclass(frozen=True, slots=True)
class Push:
    """A message the core sends on its own (a review reminder, an expert's answer arriving, an
    assignment): to one member, in the channel they are reachable in."""

    channel: str
    user_id: str
    chat_id: str
    reply: Reply
    key: str = ""  # what it is about, so that the same push is not sent twice
    meta: dict = field(default_factory=dict)
    # told whether the push went out (on a worker thread): what must not be lost is handed out again
    settle: Callable[[bool], None] | None = field(default=None, compare=False, repr=False)


def answer_action(ref: str, letters: str) -> str:
    return f"ans:{ref}:{letters}"


def parse_answer_action(action: str) -> tuple[str, str] | None:
    """(ref, letters) of an answer button's action, else None."""
    parts = action.split(":")
    if len(parts) != 3 or parts[0] != "ans" or not parts[2] or set(parts[2]) - set(LETTERS):
        return None
    return parts[1], parts[2]


# a sentence ends after 。！？； or a line break, with the closing quotes and [n] labels that follow it (in either order)
_SENTENCE_END = re.compile(r"[。！？；!?;]+(?:[”’」』）)]|\s*\[\d+\])*|\n")


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """``text`` in pieces of at most ``limit`` (as ``measure`` counts: characters by default,
    ``utf8_bytes`` for platforms that count bytes), cut at line ends, else at sentence ends (a
    sentence keeps its [n] labels), and only inside a sentence longer than the limit."""
    if limit < 8:
        raise ValueError("limit too small")
    pieces: list[str] = []
    current = ""
    for unit in _units(text):
        if measure(current + unit) <= limit:
            current += unit
            continue
        if current.strip():
            pieces.append(current.rstrip("\n"))
        current = ""
        while measure(unit) > limit:  # one sentence longer than a whole message
            cut = _fit(unit, limit, measure)
            pieces.append(unit[:cut])
            unit = unit[cut:]
        current = unit.lstrip("\n")
    if current.strip():
        pieces.append(current.rstrip("\n"))
    return pieces or [""]


def _units(text: str) -> list[str]:
    """Lines (with their break), each cut into sentences."""
    units: list[str] = []
    for line in text.splitlines(keepends=True):
        start = 0
        for m in _SENTENCE_END.finditer(line):
            if m.end() > start:
                units.append(line[start:m.end()])
                start = m.end()
        if start < len(line):
            units.append(line[start:])
    return units


def _fit(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix of ``text`` within ``limit`` (at least one character)."""
    low, high = 1, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


class QuestionCards:
    """The quiz question cards an adapter sent to a member, by question, until that member presses
    one (the newest ``keep`` of them): what a platform that updates a card on its press needs to
    show it answered. Thread-safe: cards are sent on the bot's loop and pressed on the platform's
    dispatcher thread."""

    def __init__(self, keep: int = 2000) -> None:
        self._keep = keep
        self._cards: OrderedDict[str, tuple[str, object]] = OrderedDict()
        self._lock = threading.Lock()

    def sent(self, ref: str, member: str, card: object) -> None:
        with self._lock:
            self._cards[ref] = (member, card)
            while len(self._cards) > self._keep:
                self._cards.popitem(last=False)

    def pressed(self, action: str, member: str) -> tuple[object, str] | None:
        """(the card, the letters chosen) when ``action`` answers a question whose card was sent to
        ``member`` (it is forgotten then); None for any other press, another member's, or a card
        sent before a restart or too long ago (it keeps its buttons)."""
        chosen = parse_answer_action(action)
        if chosen is None:
            return None
        with self._lock:
            owner, card = self._cards.get(chosen[0], ("", None))
            if card is None or owner != member:
                return None
            del self._cards[chosen[0]]
        return card, chosen[1]
