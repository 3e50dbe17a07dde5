"""The composition root: :func:`build_assistant` makes every part once from settings.

Adapters (CLI, HTTP, Telegram) receive the :class:`Assistant` and call its methods;
they never build stores or models themselves. Heavy parts (the embedding model, the
Chroma client) are built on first use, so ``jianxue config`` or ``stats`` stay fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

from assistant.answer import Answerer
from assistant.config import Settings
from assistant.db import open_database
from assistant.errors import CorpusError
from assistant.index.catalog import Snapshot, keyword_text, open_snapshot, refresh_snapshot
from assistant.index.docstore import DocStore
from assistant.index.embedders import Embedder, make_embedder
from assistant.index.hints import CitationHints, Example, case_examples
from assistant.index.keyword import KeywordIndex, LegalTokenizer, shared_tokenizer
from assistant.index.lock import WriterLock
from assistant.index.pool import EmbedderPool, QuestionEmbedder, pool_size
from assistant.index.store import VectorStore
from assistant.ingest.loaders import LoadOptions
from assistant.ingest.pipeline import Ingestor, IngestReport, Progress
from assistant.llm import ChatModel
from assistant.models import Answer, Hit, Principal, Turn
from assistant.rank import Ranker, default_ranker
from assistant.retrieve import CrossEncoderReranker, FusionWeights, Mode, Retriever


class Assistant:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 store: VectorStore | None = None, chat_model: ChatModel | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._embedder_injected = embedder is not None
        self._store = store
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._hints: tuple[tuple, CitationHints | None] | None = None
        self._chat_model: tuple[ChatModel | None] | None = (chat_model,) if chat_model is not None else None

    @property
    def keyword_dir(self) -> Path:
        return self.settings.data_dir / "keyword"

    @cached_property
    def tokenizer(self) -> LegalTokenizer:
        return shared_tokenizer()

    def snapshot(self) -> Snapshot:
        """The catalog and keyword index of the latest committed generation (reloaded when stale)."""
        generation = int(self.docstore.meta("generation") or 0)
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = open_snapshot(self.docstore, self.keyword_dir, self.tokenizer)
            return self._snapshot

    def hints(self) -> CitationHints | None:
        """Citation hints from ingested cases that cite provisions and from learned examples
        (built once per docstore generation)."""
        key = (int(self.docstore.meta("generation") or 0), self.docstore.meta("examples"))
        with self._lock:
            if self._hints is None or self._hints[0] != key:
                examples = [Example(text, tuple(cites)) for text, cites in self.docstore.load_examples()]
                examples += case_examples(self.docstore)
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
            added = self.docstore.add_examples(items)
            self.hints()
        return {"read": len(items), "added": added, "total": len(self.docstore.load_examples())}

    def retriever(self, *, hints: CitationHints | None | bool = True, weights: FusionWeights | None = None,
                  ranker: Ranker | None | bool = True) -> Retriever:
        """The hybrid retriever; ``hints`` and ``ranker`` may be given (evaluations) or switched off (False)."""
        if hints is True:
            hint_source = self.hints
        else:
            fixed = hints or None
            hint_source = lambda: fixed  # noqa: E731
        chosen = default_ranker() if ranker is True else (ranker or None)
        return Retriever(embedder=self.embedder, store=self.store, docstore=self.docstore, snapshot=self.snapshot,
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
    def docstore(self) -> DocStore:
        return DocStore(open_database(self.settings.database_url))

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
        without loading a model when the docstore already knows it."""
        configured = self.settings.embedder.name
        recorded = self.docstore.get_meta("embedder")
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
        database = self.docstore.engine if self.settings.scaled_out else None
        return WriterLock(self.settings.data_dir, purpose=purpose, database=database, wait_s=wait_s)

    def ingest(self, paths: Sequence[Path], *, options: LoadOptions = LoadOptions(), prune: bool = False,
               progress: Progress | None = None, wait_s: float = 0) -> IngestReport:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CorpusError(f"no such file or folder: {', '.join(missing)}")
        with self.writer_lock("ingest", wait_s=wait_s):
            store = self.store
            if self.docstore.get_meta("embedder") is None:
                embedder = self.embedder()
                self.docstore.set_meta("embedder", f"{embedder.name}@{embedder.dim}")
            tokenizer = self.tokenizer
            ingestor = Ingestor(embedder=self.embedder, store=store, docstore=self.docstore, settings=self.settings.ingest,
                                keyword_tokens=lambda chunk: " ".join(tokenizer.tokens(keyword_text(chunk))),
                                pool=self._embedder_pool())
            report = ingestor.run(list(paths), options=options, prune=prune, progress=progress)
            if KeywordIndex.saved_generation(self.keyword_dir) != self.docstore.generation():
                self._snapshot = refresh_snapshot(self.docstore, self.keyword_dir, self.tokenizer)
            if report.removed:  # pruned: a published expert answer among the files gone is withdrawn
                from assistant.experts.store import ExpertStore

                experts = ExpertStore(self.docstore.engine)
                published = experts.published_doc_ids()
                experts.documents_removed(set(published) - set(self.docstore.access_of(published)))
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
            ingestor = Ingestor(embedder=self.embedder, store=self.store, docstore=self.docstore,
                                settings=self.settings.ingest)
            removed = ingestor.remove(doc_ids)
            if removed:
                self._snapshot = refresh_snapshot(self.docstore, self.keyword_dir, self.tokenizer)
                from assistant.experts.store import ExpertStore

                ExpertStore(self.docstore.engine).documents_removed(doc_ids)  # a published answer among them
            return removed

    @cached_property
    def documents(self):
        """Uploads, listing and removal for a principal (assistant/documents.py)."""
        from assistant.documents import Documents

        return Documents(docstore=self.docstore, folder=self.settings.data_dir / "uploads", ingest=self.ingest,
                         remove=self.remove_documents)

    def stats(self) -> dict:
        """Documents and chunks by kind and line (assistant/documents.py), with the embedder and data directory."""
        return self.documents.stats(embedder=self.settings.embedder.name, data_dir=str(self.settings.data_dir))

    @cached_property
    def keys(self):
        from assistant.access import Keys

        return Keys(self.docstore.engine)

    def search(self, query: str, *, principal: Principal, k: int | None = None, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = (), as_of: str | None = None,
               mode: Mode = "hybrid") -> list[Hit]:
        with self.docstore.read_view():
            if self.docstore.meta("embedder") is None:
                raise CorpusError(f"nothing is indexed in {self.settings.data_dir} yet: run `jianxue ingest PATH` first")
            return self._retriever.search(query, principal=principal, k=k or self.settings.search.k, kinds=kinds,
                                          lines=lines, tags=tags, as_of=as_of, mode=mode)

    @cached_property
    def _retriever(self) -> Retriever:
        """The one retriever with the shipped ranker and learned hints (they follow the index's generation)."""
        return self.retriever()


    # -- answers ---------------------------------------------------------------------------

    def chat_model(self):
        """The configured chat model (assistant/llm.py's port), or None for extractive answers (built once)."""
        with self._lock:
            if self._chat_model is None:
                from assistant.llm import build_chat_model

                self._chat_model = (build_chat_model(self.settings.llm),)
            return self._chat_model[0]

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(search=self.search, snapshot=self.snapshot, tokenizer=self.tokenizer,
                        settings=self.settings.answer, chat_model=self.chat_model)

    def ask(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
            lines: tuple[str, ...] = ()) -> Answer:
        """A grounded answer with verified citations, or a refusal that names the closest topics."""
        with self.docstore.read_view():
            return self.answerer.ask(question, principal=principal, history=history, lines=lines)

    def ask_stream(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
                   lines: tuple[str, ...] = ()):
        """Async iterator of answer events (see :meth:`Answerer.ask_stream`)."""
        return self.answerer.ask_stream(question, principal=principal, history=history, lines=lines)


    # -- quizzes and learners ------------------------------------------------------------------

    @cached_property
    def learners(self):
        from assistant.learners import Learners

        return Learners(self.docstore.engine)

    @cached_property
    def quizzes(self):
        """Making, reading, grading, publishing and exporting quizzes for a principal."""
        from assistant.quiz.store import QuizStore
        from assistant.quiz.workflow import QuizWorkflow
        from assistant.training.record import Recorder

        workflow = QuizWorkflow(docstore=self.docstore, store=QuizStore(self.docstore.engine), learners=self.learners,
                                search=self.search, chat_model=self.chat_model)
        training = self.settings.training  # every answer also feeds the 错题本, assignments, daily sets, the console
        workflow.observers.append(Recorder(self.docstore.engine, daily_hours=training.daily_hours,
                                           timezone=training.timezone))
        return workflow


    # -- the expert pool -------------------------------------------------------------------------

    @cached_property
    def training(self):
        """Assignments, daily practice, the 错题本, mock exams, 学时 and the console (assistant/training/)."""
        from assistant.training import Training

        return Training(self.docstore.engine, quizzes=self.quizzes, learners=self.learners,
                        settings=self.settings.training)

    @cached_property
    def experts(self):
        """Escalated questions, claims and verified expert answers (assistant/experts/pool.py)."""
        from assistant.conversation.store import ConversationStore
        from assistant.experts.pool import ExpertPool
        from assistant.experts.store import ExpertStore

        conversations = ConversationStore(self.docstore.engine)
        return ExpertPool(store=ExpertStore(self.docstore.engine), settings=self.settings.experts, search=self.search,
                          chunks=self.docstore.get_chunks, readable=self.documents.readable,
                          members=conversations.members, passages=self.settings.experts.passages,
                          terms=self.question_terms)

    def question_terms(self, text: str) -> set[str]:
        """A question's content words (two characters or more, question words left out): what makes
        two questions the same question."""
        from assistant.answer import QUESTION_WORDS

        return {t for t in self.tokenizer.tokens(text) if len(t) >= 2 and t not in QUESTION_WORDS}

    @cached_property
    def review(self):
        """Publishing, editing and withdrawing expert answers; the pool's figures; feedback (experts/review.py)."""
        from assistant.experts.review import Review

        return Review(self.experts, documents=self.documents)


def build_assistant(settings: Settings, **parts) -> Assistant:
    """Make the assistant for these settings; tests may pass ``embedder=``, ``store=`` or ``chat_model=``."""
    return Assistant(settings, **parts)
