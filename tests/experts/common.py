"""What a test's expert writes: an answer quoting a sentence of a passage retrieved for them,
whichever passages retrieval ranks first (the ranker is refitted now and then)."""

from __future__ import annotations

import re

_QUOTES = "“”「」\""


def citable(passages: list[dict]) -> tuple[int, str, str]:
    """(n, a sentence of passage n, its label): the first passage with a plain sentence to quote."""
    for p in passages:
        for sentence in re.split(r"[。！？；\n]", p["text"]):
            sentence = sentence.strip()
            if len(sentence) >= 8 and not set(sentence) & set(_QUOTES) and not re.search(r"第.{1,8}[条号]", sentence):
                return p["n"], sentence, p["label"]
    raise AssertionError("no passage with a sentence to quote")


def good_answer(passages: list[dict], *, more: bool = True) -> str:
    n, sentence, _ = citable(passages)
    tail = f"上游犯罪人本人掩饰、隐瞒自己犯罪所得来源和性质的，同样构成洗钱罪，应当与上游犯罪数罪并罚[{n}]。" if more else ""
    return f"认定自洗钱行为，可参考“{sentence}”[{n}]。{tail}"
