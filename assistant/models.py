"""Domain types shared by every part of the core."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    statute = "statute"
    interpretation = "interpretation"
    case = "case"
    material = "material"
    qa = "qa"


class Line(StrEnum):
    criminal = "criminal"
    civil = "civil"
    administrative = "administrative"
    public_interest = "public_interest"
    general = "general"


# a case commentary's sections: the key points (检察 要旨, 法院 裁判要点) and the facts
KEY_SECTIONS = ("要旨", "裁判要点")
FACT_SECTIONS = ("基本案情", "案情", "案件事实")

# Lower wins when scores tie: law > judicial interpretation > guiding case >
# typical case > published expert answer > training material. (The ranker's authority feature
# caps at 4, so adding qa's own rank left the fitted ranker's view of the others as it was.)
AUTHORITY = {"statute": 0, "interpretation": 1, "guiding_case": 2, "case": 3, "qa": 4, "material": 5}


@dataclass(frozen=True, slots=True)
class Unit:
    """A structural piece of a document that no chunk may cross.

    A statute article, a case section (要旨, 基本案情 …) or a material section under
    one heading. ``citation`` is the label a reader checks (《刑法》第二十条,
    检例第45号·要旨); ``paragraphs`` keep the source's own line breaks so that
    long articles can be cut per 款.
    """

    locator: str
    citation: str
    paragraphs: tuple[str, ...]
    breadcrumb: tuple[str, ...] = ()
    source_id: str | None = None
    is_article: bool = False


@dataclass(slots=True)
class Document:
    doc_id: str
    title: str
    kind: Kind
    line: Line
    source: str
    units: list[Unit]
    version_date: str | None = None
    access: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    guiding: bool = False
    encoding: str | None = None
    cites: tuple[str, ...] = ()  # source ids of the provisions a case cites (相关规定)
    owner: str | None = None  # the department that uploaded it; None: the operator's (command line)

    @property
    def authority(self) -> int:
        if self.kind is Kind.case and self.guiding:
            return AUTHORITY["guiding_case"]
        return AUTHORITY[self.kind.value]

    def content_hash(self) -> str:
        """Hash of everything that decides this document's chunks and metadata."""
        h = hashlib.sha256()
        for part in (self.title, self.kind, self.line, self.version_date or "", *self.access, "|",
                     *self.tags, "|", str(self.guiding), *self.cites):
            h.update(part.encode())
            h.update(b"\x1f")
        for unit in self.units:
            for part in (unit.locator, unit.citation, unit.source_id or "", *unit.breadcrumb,
                         *unit.paragraphs):
                h.update(part.encode())
                h.update(b"\x1f")
            h.update(b"\x1e")
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    doc_id: str
    ordinal: int
    locator: str
    citation: str
    text: str
    kind: Kind
    line: Line
    title: str
    source_id: str | None = None
    breadcrumb: tuple[str, ...] = ()
    version_date: str | None = None
    access: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authority: int = 4

    def embedding_text(self) -> str:
        """What the embedder sees: the citation gives a bare paragraph its law and place."""
        return f"{self.citation}\n{self.text}"


def make_chunk_id(doc_id: str, locator: str, text: str, occurrence: int = 0) -> str:
    """Stable id: the same text at the same place of the same document keeps its id."""
    h = hashlib.sha256()
    for part in (doc_id, locator, text):
        h.update(part.encode())
        h.update(b"\x1f")
    if occurrence:
        h.update(str(occurrence).encode())
    return h.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. Retrieval filters come from here, never from request text."""

    user: str = "local"
    role: str = "admin"
    departments: tuple[str, ...] = ()
    sees_everything: bool = False

    @property
    def learner(self) -> str:
        """Whose progress, reviews and drafts these are: the user name within the departments of
        the key or membership, so two people of the same name in two departments never share."""
        departments = sorted(d for d in self.departments if d)
        return f"{self.user}@{'+'.join(departments)}" if departments else self.user

    @classmethod
    def local_admin(cls) -> "Principal":
        """The operator at the console: sees every department's material."""
        return cls(user="local", role="admin", sees_everything=True)


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        c = self.chunk
        return {
            "rank": self.rank,
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "source_id": c.source_id,
            "citation": c.citation,
            "kind": c.kind.value,
            "line": c.line.value,
            "score": round(self.score, 6),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "title": c.title,
            "locator": c.locator,
            "breadcrumb": list(c.breadcrumb),
            "text": c.text,
        }


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    n: int
    label: str
    source_id: str | None
    chunk_id: str
    doc_id: str
    kind: str
    title: str
    quote: str  # an exact span of the passage's text: what the answer quotes from it
    passage: str = ""  # the whole passage, for a reader who opens the source ("" where not kept)

    def to_dict(self) -> dict:
        out = {"n": self.n, "label": self.label, "source_id": self.source_id, "chunk_id": self.chunk_id,
               "doc_id": self.doc_id, "kind": self.kind, "title": self.title, "quote": self.quote}
        if self.passage:
            out["passage"] = self.passage
        return out


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange, as much as a follow-up needs (adapters store these)."""

    question: str
    query: str
    sources: tuple[str, ...] = ()  # source ids, else citation labels, of what the answer cited

    def to_dict(self) -> dict:
        return {"question": self.question, "query": self.query, "sources": list(self.sources)}

    @classmethod
    def from_dict(cls, data: dict) -> "Turn":
        return cls(str(data["question"]), str(data.get("query") or data["question"]),
                   tuple(str(s) for s in data.get("sources", ())))


@dataclass
class Answer:
    question: str
    query: str  # the standalone question that was searched
    text: str
    citations: list[Citation] = field(default_factory=list)
    grounded: bool = True
    mode: str = "extractive"  # extractive | llm | refusal
    refusal: str | None = None  # why it declined
    suggestions: list[str] = field(default_factory=list)  # closest topics that do exist
    notice: str | None = None  # fallback or trimming, one line
    support: float = 0.0
    problems: list[str] = field(default_factory=list)  # what verification took out

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    def turn(self) -> Turn:
        return Turn(self.question, self.query, tuple(c.source_id or c.label for c in self.citations))

    def to_dict(self) -> dict:
        return {
            "question": self.question, "query": self.query, "text": self.text,
            "citations": [c.to_dict() for c in self.citations], "grounded": self.grounded, "mode": self.mode,
            "refused": self.refused, "refusal": self.refusal, "suggestions": self.suggestions,
            "notice": self.notice, "support": round(self.support, 4), "problems": self.problems,
        }


# -- quizzes -----------------------------------------------------------------------------------


class QuestionType(StrEnum):
    single = "single"
    multi = "multi"
    true_false = "true_false"
    case_analysis = "case_analysis"


@dataclass
class Question:
    """One quiz question; ``answer`` holds the indexes of the correct options."""

    id: str
    type: QuestionType
    stem: str
    options: list[str]
    answer: list[int]
    explanation: str
    citations: list[Citation]
    difficulty: int  # 1 easy .. 3 hard
    topic: str
    line: str
    kind: str  # what the generator asked: charge, decision, cloze, key_point, key_points, provision, article
    status: str = "draft"  # draft | published
    source_hash: str = ""  # hash of the cited passages' text when the question was made
    generator: str = "template"
    stale: bool = False  # published, and a cited passage has changed or gone since

    def to_dict(self) -> dict:
        return {
            "id": self.id, "type": self.type.value, "stem": self.stem, "options": list(self.options),
            "answer": list(self.answer), "explanation": self.explanation,
            "citations": [c.to_dict() for c in self.citations], "difficulty": self.difficulty,
            "topic": self.topic, "line": self.line, "kind": self.kind, "status": self.status,
            "source_hash": self.source_hash, "generator": self.generator, "stale": self.stale,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Question":
        return cls(
            id=d["id"], type=QuestionType(d["type"]), stem=d["stem"], options=list(d["options"]),
            answer=[int(i) for i in d["answer"]], explanation=d.get("explanation", ""),
            citations=[Citation(**c) for c in d.get("citations", [])], difficulty=int(d.get("difficulty", 2)),
            topic=d.get("topic", ""), line=d.get("line", "general"), kind=d.get("kind", ""),
            status=d.get("status", "draft"), source_hash=d.get("source_hash", ""),
            generator=d.get("generator", "template"), stale=bool(d.get("stale", False)),
        )


@dataclass
class Quiz:
    id: str
    title: str
    topic: str
    line: str
    questions: list[Question]
    status: str = "draft"
    created_by: str = "local"
    created_at: str = ""
    dropped: list[str] = field(default_factory=list)  # why candidate questions were not kept

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "topic": self.topic, "line": self.line, "status": self.status,
                "created_by": self.created_by, "created_at": self.created_at,
                "questions": [q.to_dict() for q in self.questions], "dropped": list(self.dropped)}
