"""The composition root: :func:`build_assistant` makes every part once from settings.

Adapters (CLI, HTTP, Telegram) receive the :class:`Assistant` and call its methods;
they never build stores or models themselves. Heavy parts (the embedding model, the
Chroma client) are built on first use, so ``jianxue config`` or ``stats`` stay fast.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path

from assistant.answer import Answerer
from assistant.config import Settings
from assistant.db import open_database
from assistant.errors import CorpusError, NotFound
from assistant.index.catalog import Snapshot, keyword_text, open_snapshot, refresh_snapshot
from assistant.index.embedders import Embedder, make_embedder
from assistant.index.hints import CitationHints, Example
from assistant.index.keyword import KeywordIndex, LegalTokenizer, shared_tokenizer
from assistant.index.ledger import COMMITTED, Ledger
from assistant.index.lock import WriterLock
from assistant.index.pool import EmbedderPool, QuestionEmbedder, pool_size
from assistant.index.store import VectorStore
from assistant.ingest.loaders import LoadOptions
from assistant.ingest.pipeline import Ingestor, IngestReport, Progress
from assistant.models import Answer, Hit, Kind, Principal, Turn
from assistant.rank import Ranker, default_ranker
from assistant.retrieve import CrossEncoderReranker, FusionWeights, Mode, Retriever


_VIEW: ContextVar[dict[str, str | None] | None] = ContextVar("jianxue_read_view", default=None)
_VIEW_KEYS = ("generation", "examples", "embedder")


class Assistant:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 store: VectorStore | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._embedder_injected = embedder is not None
        self._store = store
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._hints: tuple[tuple, CitationHints | None] | None = None
        self._chat_model: tuple[object | None] | None = None

    @property
    def keyword_dir(self) -> Path:
        return self.settings.data_dir / "keyword"

    @cached_property
    def tokenizer(self) -> LegalTokenizer:
        return shared_tokenizer()

    @contextmanager
    def _read_view(self) -> Iterator[None]:
        """One read of the ledger's state for a whole search or answer: every part of it sees
        the same generation, and the database is asked once, not at every step."""
        if _VIEW.get() is not None:
            yield
            return
        token = _VIEW.set(self.ledger.get_metas(_VIEW_KEYS))
        try:
            yield
        finally:
            _VIEW.reset(token)

    def _meta(self, key: str) -> str | None:
        view = _VIEW.get()
        return view[key] if view is not None and key in view else self.ledger.get_meta(key)

    def snapshot(self) -> Snapshot:
        """The catalog and keyword index of the latest committed generation (reloaded when stale)."""
        generation = int(self._meta("generation") or 0)
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = open_snapshot(self.ledger, self.keyword_dir, self.tokenizer)
            return self._snapshot

    def hints(self) -> CitationHints | None:
        """Citation hints from ingested cases that cite provisions and from learned examples
        (built once per ledger generation)."""
        key = (int(self._meta("generation") or 0), self._meta("examples"))
        with self._lock:
            if self._hints is None or self._hints[0] != key:
                examples = [Example(text, tuple(cites)) for text, cites in self.ledger.load_examples()]
                for entry in self.ledger.load().values():
                    if entry.cites and entry.state == COMMITTED:
                        chunks = sorted(self.ledger.get_chunks(entry.chunk_ids).values(), key=lambda c: c.ordinal)
                        for section in (("要旨", "裁判要点"), ("基本案情",)):
                            text = "\n".join(c.text for c in chunks if c.locator in section)
                            if text:
                                examples.append(Example(text, tuple(entry.cites)))
                self._hints = (key, self._cached_hints(examples) if examples else None)
            return self._hints[1]

    def _cached_hints(self, examples: list[Example]) -> CitationHints:
        folder = self.settings.data_dir / "hints"
        name = self.settings.embedder.name if self._embedder is None else self._embedder.name
        key = CitationHints.fingerprint(examples, name)
        hints = CitationHints.load(folder, key, examples, tokenizer=self.tokenizer, embedder=self.embedder())
        if hints is None:
            hints = CitationHints(examples, tokenizer=self.tokenizer, embedder=self.embedder())
            try:
                for old in folder.glob("*"):
                    old.unlink()
                hints.save(folder, key)
            except OSError:  # a read-only data directory still answers, it only recomputes
                pass
        return hints

    def learn(self, paths: Sequence[Path]) -> dict:
        """Store labelled examples (question or facts -> cited articles) as citation hints."""
        from assistant.evaluation import labelled_examples

        items = []
        for path in paths:
            if not path.is_file():
                raise CorpusError(f"no such file: {path}")
            items += [(text, cites, str(path)) for text, cites in labelled_examples(path)]
        with self.writer_lock("learn"):
            added = self.ledger.add_examples(items)
            self.hints()
        return {"read": len(items), "added": added, "total": len(self.ledger.load_examples())}

    def retriever(self, *, hints: CitationHints | None | bool = True, weights: FusionWeights | None = None,
                  ranker: Ranker | None | bool = True) -> Retriever:
        """The hybrid retriever; ``hints`` and ``ranker`` may be given (evaluations) or switched off (False)."""
        if hints is True:
            hint_source = self.hints
        else:
            fixed = hints or None
            hint_source = lambda: fixed  # noqa: E731
        chosen = default_ranker() if ranker is True else (ranker or None)
        return Retriever(embedder=self.embedder, store=self.store, ledger=self.ledger, snapshot=self.snapshot,
                         tokenizer=self.tokenizer, hints=hint_source, weights=weights or FusionWeights(),
                         ranker=chosen, reranker=self.reranker)

    @cached_property
    def reranker(self) -> CrossEncoderReranker | None:
        model = self.settings.search.reranker
        return CrossEncoderReranker(model, device=self.settings.embedder.device) if model else None

    # -- parts, built once and lazily -----------------------------------------------------

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings.embedder)
            return self._embedder

    def serve_questions(self) -> None:
        """For a long-running server (the API, the bot): questions asked at the same time are
        embedded together, and use-m3 does it in a worker process (embedder.question_process)
        so that embedding does not hold this process's GIL. A one-shot command embeds its one
        question here.

        Measured with evals/bench_http.py on two cores: the embedded server answers about 10%
        more requests per second with the worker; two scaled-out API workers gain nothing from
        one each, so scaled out it is off unless set."""
        with self._lock:
            if isinstance(self._embedder, QuestionEmbedder):
                return
            inner = self._embedder if self._embedder is not None else make_embedder(self.settings.embedder)
            wanted = self.settings.embedder.question_process
            if wanted is None:
                wanted = not self.settings.scaled_out
            apart = not self._embedder_injected and wanted and inner.name == "use-m3"
            self._embedder = QuestionEmbedder(inner, settings=self.settings.embedder if apart else None)

    def close(self) -> None:
        """Stop the question embedder's worker, if there is one."""
        with self._lock:
            embedder = self._embedder
            if isinstance(embedder, QuestionEmbedder):
                self._embedder = embedder.inner
        if isinstance(embedder, QuestionEmbedder):
            embedder.close()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(open_database(self.settings.database_url))

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                from assistant.index.chroma import ChromaStore

                name, dim = self._index_identity()
                self._store = ChromaStore.open(
                    path=self.settings.chroma_path, url=self.settings.chroma.url,
                    collection=self.settings.chroma.collection, embedder_name=name, dim=dim,
                )
            return self._store

    def _index_identity(self) -> tuple[str, int]:
        """The embedder the index was built with, checked against the configured one
        without loading a model when the ledger already knows it."""
        configured = self.settings.embedder.name
        recorded = self.ledger.get_meta("embedder")
        if recorded is not None:
            name, _, dim = recorded.rpartition("@")
            if name != configured and not (self._embedder is not None and self._embedder.name == name):
                raise CorpusError(
                    f"the index in {self.settings.data_dir} was built with the embedder {name!r}, but "
                    f"{configured!r} is configured. Set JIANXUE_EMBEDDER__NAME={name}, or point "
                    "JIANXUE_DATA_DIR at a fresh directory and ingest again."
                )
            return name, int(dim)
        embedder = self.embedder()
        return embedder.name, embedder.dim

    # -- jobs ----------------------------------------------------------------------------

    def writer_lock(self, purpose: str, *, wait_s: float = 0) -> WriterLock:
        """The one-writer lock: the data directory's file lock, or PostgreSQL's when scaled out."""
        database = self.ledger.engine if self.settings.scaled_out else None
        return WriterLock(self.settings.data_dir, purpose=purpose, database=database, wait_s=wait_s)

    def ingest(self, paths: Sequence[Path], *, options: LoadOptions = LoadOptions(), prune: bool = False,
               progress: Progress | None = None, wait_s: float = 0) -> IngestReport:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CorpusError(f"no such file or folder: {', '.join(missing)}")
        with self.writer_lock("ingest", wait_s=wait_s):
            store = self.store
            if self.ledger.get_meta("embedder") is None:
                embedder = self.embedder()
                self.ledger.set_meta("embedder", f"{embedder.name}@{embedder.dim}")
            tokenizer = self.tokenizer
            ingestor = Ingestor(embedder=self.embedder, store=store, ledger=self.ledger, settings=self.settings.ingest,
                                keyword_tokens=lambda chunk: " ".join(tokenizer.tokens(keyword_text(chunk))),
                                pool=self._embedder_pool())
            report = ingestor.run(list(paths), options=options, prune=prune, progress=progress)
            if KeywordIndex.saved_generation(self.keyword_dir) != self.ledger.generation():
                self._snapshot = refresh_snapshot(self.ledger, self.keyword_dir, self.tokenizer)
            self.hints()  # embed new examples now, not in the first search
            return report

    def _embedder_pool(self) -> Callable[[], EmbedderPool] | None:
        """Worker processes for large ingests, when the embedder comes from settings (an injected
        one, such as a test's, is used as it is)."""
        workers = pool_size(self.settings.embedder)
        if self._embedder_injected or workers < 2:
            return None
        return lambda: EmbedderPool(self.settings.embedder, workers=workers)

    def remove_documents(self, doc_ids: Sequence[str], *, wait_s: float = 0) -> int:
        """Take documents out of the index (an API delete); returns how many were there."""
        with self.writer_lock("delete", wait_s=wait_s):
            ingestor = Ingestor(embedder=self.embedder, store=self.store, ledger=self.ledger,
                                settings=self.settings.ingest)
            removed = ingestor.remove(doc_ids)
            if removed:
                self._snapshot = refresh_snapshot(self.ledger, self.keyword_dir, self.tokenizer)
            return removed

    def documents(self, principal: Principal) -> list[dict]:
        """The documents this principal may read."""
        return [{"doc_id": e.doc_id, "title": e.title, "kind": e.kind, "line": e.line, "access": list(e.access),
                 "chunks": len(e.chunk_ids), "source": Path(e.source).name}
                for e in sorted(self.ledger.load().values(), key=lambda e: e.doc_id)
                if e.state == COMMITTED and _may_read(principal, e.access)]

    @cached_property
    def keys(self):
        from assistant.access import Keys

        return Keys(self.ledger.engine)

    def stats(self) -> dict:
        entries = self.ledger.load().values()
        docs = Counter((e.kind, e.line) for e in entries if e.state == COMMITTED)
        chunks = Counter()
        for e in entries:
            if e.state == COMMITTED:
                chunks[(e.kind, e.line)] += len(e.chunk_ids)
        by_kind: dict[str, dict[str, int]] = {}
        by_line: dict[str, dict[str, int]] = {}
        for (kind, line), n in docs.items():
            for table, key in ((by_kind, kind), (by_line, line)):
                row = table.setdefault(key, {"documents": 0, "chunks": 0})
                row["documents"] += n
                row["chunks"] += chunks[(kind, line)]
        return {
            "documents": sum(docs.values()),
            "chunks": sum(chunks.values()),
            "unfinished": sum(1 for e in entries if e.state != COMMITTED),
            "by_kind": dict(sorted(by_kind.items())),
            "by_line": dict(sorted(by_line.items())),
            "embedder": (self.ledger.get_meta("embedder") or "").rpartition("@")[0] or self.settings.embedder.name,
            "data_dir": str(self.settings.data_dir),
        }

    def search(self, query: str, *, principal: Principal, k: int | None = None, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = (), as_of: str | None = None,
               mode: Mode = "hybrid") -> list[Hit]:
        with self._read_view():
            if self._meta("embedder") is None:
                raise CorpusError(f"nothing is indexed in {self.settings.data_dir} yet: run `jianxue ingest PATH` first")
            return self.retriever().search(query, principal=principal, k=k or self.settings.search.k, kinds=kinds,
                                           lines=lines, tags=tags, as_of=as_of, mode=mode)


    # -- answers ---------------------------------------------------------------------------

    def chat_model(self):
        """The configured LangChain chat model, or None for extractive answers (built once)."""
        with self._lock:
            if self._chat_model is None:
                from assistant.llm import build_chat_model

                self._chat_model = (build_chat_model(self.settings.llm),)
            return self._chat_model[0]

    @cached_property
    def answerer(self) -> Answerer:
        def search(query: str, *, principal: Principal, k: int, lines: tuple[str, ...]) -> list[Hit]:
            return self.search(query, principal=principal, k=k, lines=lines)

        return Answerer(search=search, snapshot=self.snapshot, tokenizer=self.tokenizer,
                        settings=self.settings.answer, chat_model=self.chat_model)

    def ask(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
            lines: tuple[str, ...] = ()) -> Answer:
        """A grounded answer with verified citations, or a refusal that names the closest topics."""
        with self._read_view():
            return self.answerer.ask(question, principal=principal, history=history, lines=lines)

    def ask_stream(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
                   lines: tuple[str, ...] = ()):
        """Async iterator of answer events (see :meth:`Answerer.ask_stream`)."""
        return self.answerer.ask_stream(question, principal=principal, history=history, lines=lines)


    # -- quizzes and learners ------------------------------------------------------------------

    @cached_property
    def learners(self):
        from assistant.learners import Learners

        return Learners(self.ledger.engine)

    def quiz_sources(self, *, principal: Principal, topic: str | None = None, case: str | None = None,
                     line: str | None = None, limit: int = 8) -> list:
        """Documents to make questions from, only those the principal may read."""
        from assistant.quiz.generate import Source

        entries = {d: e for d, e in self.ledger.load().items() if e.state == COMMITTED and _may_read(principal, e.access)}

        def source(entry, focus=()) -> Source:
            chunks = sorted(self.ledger.get_chunks(entry.chunk_ids).values(), key=lambda c: c.ordinal)
            tags = tuple(dict.fromkeys(t for c in chunks for t in c.tags))
            return Source(doc_id=entry.doc_id, title=entry.title, kind=Kind(entry.kind), line=entry.line,
                          chunks=chunks, tags=tags, focus=tuple(focus))

        if case:
            wanted = case.strip()
            for entry in entries.values():
                if entry.kind != Kind.case.value:
                    continue
                if wanted in (entry.doc_id, entry.title) or wanted.removesuffix(".md") == entry.doc_id.rsplit(".", 1)[0]:
                    return [source(entry)]
                first = self.ledger.get_chunks(entry.chunk_ids[:1])
                if any(c.citation.split("·", 1)[0] == wanted for c in first.values()):
                    return [source(entry)]
            raise NotFound(f"no case {case!r} in the index (give its number such as 检例第45号, its title or its id)")
        if topic:
            hits = self.search(topic, principal=principal, k=30, lines=(line,) if line else ())
            order: dict[str, list[str]] = {}
            for h in hits:
                order.setdefault(h.chunk.doc_id, []).append(h.chunk.chunk_id)
            return [source(entries[d], focus) for d, focus in order.items() if d in entries][:limit]
        cases = sorted((e for e in entries.values() if e.kind == Kind.case.value and (not line or e.line == line)),
                       key=lambda e: e.doc_id)
        return [source(e) for e in cases[:limit]]

    def make_quiz(self, *, principal: Principal, topic: str | None = None, case: str | None = None,
                  line: str | None = None, n: int = 5, use_model: bool = True):
        """Generate, validate and save a draft quiz of ``n`` questions (fewer if the sources give fewer)."""
        from assistant.quiz import Tally, assemble, collect, pick
        from assistant.quiz.generate import LLMGenerator, Pool, TemplateGenerator, case_charge
        from assistant.quiz.validate import validate
        from assistant import prompts

        sources = self.quiz_sources(principal=principal, topic=topic, case=case, line=line)
        if not sources:
            raise NotFound("no material to make questions from" + (f" on {topic!r}" if topic else ""))
        texts = {c.chunk_id: c.text for s in sources for c in s.chunks}
        pool = Pool(charges=[found[0] for s in sources if (found := case_charge(s))])
        tally = Tally()
        salt = secrets.token_hex(4)  # each request a new quiz (and id), even when two ask at the same moment
        model = self.chat_model() if use_model else None
        if model is not None:
            from assistant.llm import json_replies

            model = json_replies(model, self.settings.llm.provider)
        generator = (LLMGenerator(model, lambda q, _s: validate(q, texts), prompt=prompts.QUIZ, repair=prompts.QUIZ_REPAIR)
                     if model is not None else TemplateGenerator(pool, seed=f"{topic}|{case}|{line}|{salt}"))
        per_source = n if len(sources) == 1 else max(2, -(-n // len(sources)))
        questions = pick(collect(generator, sources, texts, per_source=per_source, tally=tally), n)
        if model is not None and len(questions) < n:  # the model fell short: templates fill up
            more = collect(TemplateGenerator(pool, seed=salt), sources, texts, per_source=per_source, tally=tally)
            questions += pick([q for q in more if q.id not in {x.id for x in questions}], n - len(questions))
        if not questions:
            raise NotFound("no valid question could be made from this material: " + "; ".join(tally.dropped[:3]))
        subject = topic or case or (sources[0].title if len(sources) == 1 else "综合")
        quiz = assemble(questions, title=f"{subject} · {len(questions)}题", topic=subject,
                        line=line or sources[0].line, user=principal.user, salt=salt, dropped=tally.dropped)
        self.learners.save_quiz(quiz)
        return quiz

    def get_quiz(self, quiz_id: str):
        """A saved quiz; published questions whose cited passages changed or went are marked stale."""
        from assistant.quiz.generate import source_hash

        quiz = self.learners.get_quiz(quiz_id)
        ids = [c.chunk_id for q in quiz.questions for c in q.citations]
        current = self.ledger.get_chunks(ids)
        for q in quiz.questions:
            chunks = [current.get(c.chunk_id) for c in q.citations]
            unique = list({c.chunk_id: c for c in chunks if c is not None}.values())
            q.stale = q.status == "published" and (None in chunks or source_hash(unique) != q.source_hash)
        return quiz

    def grade(self, question_id: str, chosen: Sequence[int], *, principal: Principal, quiz_id: str | None = None):
        question = self.learners.get_question(question_id)
        return self.learners.record(user=principal.user, departments=principal.departments, question=question,
                                    chosen=list(chosen), quiz_id=quiz_id)

    def export_quiz(self, quiz_id: str, fmt: str) -> bytes:
        from assistant.quiz.export import export

        return export(self.get_quiz(quiz_id), fmt)


def _may_read(principal: Principal, access) -> bool:
    return principal.sees_everything or not access or bool(set(access) & set(principal.departments))


def build_assistant(settings: Settings, **parts) -> Assistant:
    """Make the assistant for these settings; tests may pass ``embedder=`` or ``store=``."""
    return Assistant(settings, **parts)
