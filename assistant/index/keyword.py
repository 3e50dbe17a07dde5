"""The keyword side of search: jieba with a legal dictionary, BM25 (bm25s) over every chunk.

The index is rebuilt from the docstore's chunk table (tokens are cached per chunk, so a
rebuild only tokenises new chunks) and saved under the data directory with the docstore
generation it was built from; a reader compares generations and reloads when they differ.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

STOP_WORDS = frozenset(  # function words no search is about; answer.QUESTION_WORDS builds on them
    "的 了 是 在 和 与 或 及 等 对 于 以 为 由 被 把 将 之 其 所 有 者 也 而 并 或者 以及 如果 可以 应当 什么 怎么 "
    "怎样 如何 哪些 是否 吗 呢 吧 啊 我 你 他 她 它 我们 他们 这 那 这个 那个 一个 没有 不 会 能 要 就 都 还 又 "
    "及其 其他 规定 本法 下列 之一 情形".split()
)
_TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]+")
_WORD_RE = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]+|\d+")
_NUMBERING_RE = re.compile(r"^[第零〇一二三四五六七八九十百千两条款项之\d]+$")  # article numbers resolve directly


class LegalTokenizer:
    """jieba search-mode tokens with the legal user dictionary, stop words removed."""

    def __init__(self) -> None:
        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._ready = False
        self._legal_words: frozenset[str] = frozenset()

    def _init(self) -> None:
        with self._lock:
            if not self._ready:
                self._jieba.initialize()
                with resources.as_file(resources.files("assistant.resources") / "legal_dict.txt") as path:
                    self._legal_words = frozenset(
                        line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
                    self._jieba.load_userdict(str(path))
                self._ready = True

    def general_share(self, word: str) -> float:
        """How common a word is in general Chinese: its frequency in jieba's own dictionary
        (add-one, so never 0) over the dictionary's total; the words of the legal dictionary
        count as unseen there."""
        if not self._ready:
            self._init()
        frequency = 0 if word in self._legal_words else self._jieba.FREQ.get(word, 0)
        return (frequency + 1) / self._jieba.total

    def tokens(self, text: str) -> list[str]:
        if not self._ready:
            self._init()
        out: list[str] = []
        for piece in _TOKEN_RE.findall(text):
            out += self._piece(piece)
        return out

    @lru_cache(maxsize=65536)  # noqa: B019 - one tokenizer per process; legal text repeats its clauses
    def _piece(self, piece: str) -> tuple[str, ...]:
        kept = []
        for token in self._jieba.cut_for_search(piece):
            token = token.strip().lower()
            if token and token not in STOP_WORDS and _WORD_RE.match(token) and not _NUMBERING_RE.match(token):
                kept.append(token)
        return tuple(kept)


@lru_cache(maxsize=1)
def shared_tokenizer() -> LegalTokenizer:
    return LegalTokenizer()


@lru_cache(maxsize=1)
def lay_terms() -> dict[str, str]:
    """Layperson words -> the legal terms they usually mean (resources/lay_terms.tsv)."""
    table = {}
    text = (resources.files("assistant.resources") / "lay_terms.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, terms = line.partition("\t")
            table[word.strip()] = terms.strip()
    return table


class KeywordIndex:
    """BM25 over chunk ids; ``scores(tokens, mask)`` gives one score per chunk row."""

    def __init__(self, ids: list[str], bm25, generation: int) -> None:
        self.ids = ids
        self.row_of = {chunk_id: row for row, chunk_id in enumerate(ids)}
        self._bm25 = bm25
        self._vocab = bm25.vocab_dict if bm25 is not None else {}
        self.generation = generation

    @classmethod
    def build(cls, ids: list[str], token_lists: list[list[str]], *, generation: int) -> "KeywordIndex":
        import bm25s

        if not ids:
            return cls([], None, generation)
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index([t or [""] for t in token_lists], show_progress=False)
        return cls(ids, bm25, generation)

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"))
        (tmp / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps({"generation": self.generation, "chunks": len(self.ids)}))
        if folder.exists():
            old = folder.with_name(folder.name + ".old")
            if old.exists():
                _rmtree(old)
            folder.rename(old)
            tmp.rename(folder)
            _rmtree(old)
        else:
            tmp.rename(folder)

    @staticmethod
    def saved_generation(folder: Path) -> int | None:
        """The docstore generation the index saved in ``folder`` was built from, if any."""
        try:
            return int(json.loads((folder / "manifest.json").read_text())["generation"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def load(cls, folder: Path) -> "KeywordIndex | None":
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        bm25 = None
        if ids:
            import bm25s

            try:
                bm25 = bm25s.BM25.load(str(folder / "bm25"))
            except Exception:  # a half-written or foreign folder: rebuild instead
                return None
        return cls(ids, bm25, int(manifest.get("generation", -1)))

    def __contains__(self, token: str) -> bool:
        return token in self._vocab

    def __len__(self) -> int:
        return len(self.ids)

    def view(self, mask: np.ndarray | None) -> "KeywordIndex | KeywordView":
        """The statistics over the chunks ``mask`` lets through (a reader's): the index itself when
        that is every chunk."""
        if mask is None or len(mask) != len(self.ids) or bool(mask.all()):
            return self
        return KeywordView(self, mask)

    def df(self, token: str) -> int:
        """How many chunks contain the token."""
        index = self._vocab.get(token)
        if index is None or self._bm25 is None:
            return 0
        return int(self._bm25.scores["indptr"][index + 1] - self._bm25.scores["indptr"][index])

    def idf(self, token: str) -> float:
        """Inverse document frequency (BM25's form); a token no chunk has gets the highest value."""
        df = self.df(token)
        return math.log(1 + (len(self.ids) - df + 0.5) / (df + 0.5))

    def scores(self, tokens: list[str], mask: np.ndarray | None = None) -> np.ndarray:
        known = [t for t in tokens if t in self._vocab]
        if not known or self._bm25 is None:
            return np.zeros(len(self.ids), dtype=np.float32)
        scores = self._bm25.get_scores(known)
        if mask is not None:
            scores = scores * mask
        return np.asarray(scores, dtype=np.float32)


class KeywordView:
    """A keyword index's statistics (which tokens occur, in how many chunks, their IDF) counted
    over the chunks one reader may read, so that what they are told about the corpus (whether it
    covers their question, which words weigh) does not depend on material they may not read."""

    def __init__(self, index: KeywordIndex, mask: np.ndarray) -> None:
        self._index, self._mask = index, mask
        self._size = int(mask.sum())

    def __len__(self) -> int:
        return self._size

    def __contains__(self, token: str) -> bool:
        return self.df(token) > 0

    def df(self, token: str) -> int:
        index = self._index._vocab.get(token)
        if index is None or self._index._bm25 is None:
            return 0
        scores = self._index._bm25.scores
        rows = scores["indices"][scores["indptr"][index]:scores["indptr"][index + 1]]
        return int(self._mask[rows].sum())

    def idf(self, token: str) -> float:
        df = self.df(token)
        return math.log(1 + (self._size - df + 0.5) / (df + 0.5))


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
