"""Question generators. The template one needs no model: every question is cut from the
text of a case commentary or a statute, so its answer is in its cited passage by
construction (and validate.py checks it anyway). The LLM one asks a configured model for
structured output and keeps only what validates.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from assistant.models import Chunk, Citation, Kind, Question, QuestionType
from assistant.text import looks_like_instruction, sentence_spans

KEY_SECTIONS = ("要旨", "裁判要点")
TEACHING_SECTIONS = (*KEY_SECTIONS, "指导意义")  # what statements and clozes are cut from, key points first
FACT_SECTIONS = ("基本案情", "案情", "案件事实")

# procuratorial decisions, most specific first (不批准逮捕 before 批准逮捕 …)
DECISIONS: list[tuple[str, str, str]] = [
    ("不批准逮捕", r"不(予)?批准逮捕", "arrest"),
    ("批准逮捕", r"(?<!不)批准逮捕", "arrest"),
    ("附条件不起诉", r"附条件不起诉", "charge"),
    ("存疑不起诉", r"存疑不起诉|证据不足不起诉|证据不足.{0,6}不起诉", "charge"),
    ("酌定不起诉", r"酌定不起诉|相对不起诉|犯罪情节轻微.{0,30}不起诉", "charge"),
    ("法定不起诉", r"法定不起诉|绝对不起诉", "charge"),
    ("提出抗诉", r"抗诉", "supervision"),
    ("立案监督", r"立案监督|通知公安机关立案|要求公安机关说明不立案理由", "supervision"),
    ("再审检察建议", r"再审检察建议", "supervision"),
    ("诉前检察建议", r"诉前检察建议", "public_interest"),
    ("提起公益诉讼", r"提起.{0,6}公益诉讼", "public_interest"),
    ("提起公诉", r"提起公诉|向.{0,12}法院起诉", "charge"),
]
DECISION_NAMES = [d[0] for d in DECISIONS]

# faithful negations of the modal or verdict word of a statement (first match is flipped)
NEGATIONS: list[tuple[str, str]] = [
    ("不构成", "构成"), ("不属于", "属于"), ("不应当", "应当"), ("不得", "可以"), ("无权", "有权"),
    ("不能", "能够"), ("构成", "不构成"), ("属于", "不属于"), ("应当", "不应当"), ("可以", "不得"),
    ("有权", "无权"),
]
TRUE_FALSE = ["正确", "错误"]


@lru_cache(maxsize=1)
def legal_terms() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(crime names, other legal terms) from the legal dictionary."""
    text = (resources.files("assistant.resources") / "legal_dict.txt").read_text(encoding="utf-8")
    words = [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]
    crimes = tuple(w for w in words if w.endswith("罪") and len(w) >= 3 and w not in ("共同犯罪",))
    terms = tuple(w for w in words if not w.endswith("罪") and len(w) >= 3)
    return crimes, terms


@lru_cache(maxsize=1)
def crime_groups() -> dict[str, str]:
    """Crime name -> the chapter group it belongs to (resources/crime_groups.tsv)."""
    text = (resources.files("assistant.resources") / "crime_groups.tsv").read_text(encoding="utf-8")
    groups = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            group, _, names = line.partition("\t")
            for name in names.split():
                groups[name] = group
    return groups


@dataclass
class Source:
    """One document to make questions from: a case commentary or a statute, with its chunks in order."""

    doc_id: str
    title: str
    kind: Kind
    line: str
    chunks: list[Chunk]
    tags: tuple[str, ...] = ()
    guiding: bool = False
    focus: tuple[str, ...] = ()  # chunk ids to ask about first (search hits inside a long statute)

    def section(self, names: Sequence[str]) -> str:
        return "\n".join(c.text for c in self.chunks if c.locator in names)

    def chunks_of(self, names: Sequence[str]) -> list[Chunk]:
        return [c for c in self.chunks if c.locator in names]

    @property
    def case_no(self) -> str:
        head = self.chunks[0].citation.split("·", 1)[0] if self.chunks else ""
        return head or self.title


@dataclass
class Pool:
    """What distractors are drawn from: charges, decisions and terms seen across the sources."""

    charges: list[str] = field(default_factory=list)
    statutes: dict[str, list[Chunk]] = field(default_factory=dict)  # doc_id -> article chunks


def question_id(*parts: str) -> str:
    return "q" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:15]


def source_hash(chunks: Sequence[Chunk]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c.chunk_id.encode())
        h.update(c.text.encode())
    return h.hexdigest()[:32]


def _cite(chunk: Chunk, quote: str, n: int = 1) -> Citation:
    return Citation(n=n, label=chunk.citation, source_id=chunk.source_id, chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id, kind=chunk.kind.value, title=chunk.title, quote=quote)


def _sentences(chunk: Chunk, *, low: int = 12, high: int = 240) -> list[str]:
    text = chunk.text
    return [text[a:b] for a, b in sentence_spans(text)
            if low <= b - a <= high and not looks_like_instruction(text[a:b])]


def _excerpt(text: str, limit: int = 220) -> str:
    """The opening sentences of ``text`` up to ``limit`` characters, never mid-sentence."""
    out = ""
    for a, b in sentence_spans(text):
        piece = text[a:b]
        if out and len(out) + len(piece) > limit:
            break
        out += piece
        if len(out) >= limit:
            break
    return out.strip()


class TemplateGenerator:
    """Questions cut from the corpus text; deterministic for a given seed."""

    name = "template"

    def __init__(self, pool: Pool, *, seed: str = "") -> None:
        self.pool = pool
        self.seed = seed

    def candidates(self, source: Source) -> Iterator[Question]:
        """Every question this source can give, best kinds first."""
        makers = ([self.charge, self.decision, self.key_points, self.true_false, self.cloze]
                  if source.kind is Kind.case else [self.provision, self.article])
        for make in makers:
            yield from make(source)

    def _rng(self, *parts: str) -> random.Random:
        return random.Random("\x1f".join((self.seed, *parts)))

    def _single(self, source: Source, kind: str, stem: str, correct: str, distractors: Sequence[str],
                cites: list[Citation], explanation: str, difficulty: int, topic: str) -> Question | None:
        pool = [d for d in dict.fromkeys(distractors) if d and d != correct and d not in stem]
        if len(pool) < 3:
            return None
        rng = self._rng(source.doc_id, kind, stem)
        options = [correct, *pool[:3]]  # callers order distractors most plausible first
        rng.shuffle(options)
        chunks = [c for c in source.chunks if c.chunk_id in {x.chunk_id for x in cites}]
        return Question(
            id=question_id(source.doc_id, kind, stem, correct), type=QuestionType.single, stem=stem,
            options=options, answer=[options.index(correct)], explanation=explanation, citations=cites,
            difficulty=difficulty, topic=topic, line=source.line, kind=kind, source_hash=source_hash(chunks),
        )

    # -- from a case commentary -----------------------------------------------------------

    def charge(self, source: Source) -> Iterator[Question]:
        facts, key = source.chunks_of(FACT_SECTIONS), source.chunks_of(KEY_SECTIONS)
        if not facts or not key:
            return
        found = case_charge(source)
        if found is None:
            return
        charge, key_chunk = found
        core = charge.removesuffix("罪")
        excerpt = _excerpt(facts[0].text)
        if not excerpt or core in excerpt:
            excerpt = _excerpt(re.sub(re.escape(core) + "罪?", "某罪", facts[0].text))
        stem = f"【案情】{excerpt}\n根据上述案情，对行为人应当以何罪追究刑事责任？"
        quote = next((s for s in _sentences(key_chunk, high=400) if charge in s), None)
        if quote is None:
            return
        q = self._single(source, "charge", stem, charge, self._charges_near(charge, source),
                         [_cite(key_chunk, quote)], f"{key_chunk.citation}：{quote}", 2, charge)
        if q is not None:
            yield q

    def decision(self, source: Source) -> Iterator[Question]:
        facts = source.chunks_of(FACT_SECTIONS)
        if not facts:
            return
        found = case_decision(source)
        if found is None:
            return
        name, chunk, quote = found
        excerpt = _excerpt(facts[0].text)
        if re.search(dict((d[0], d[1]) for d in DECISIONS)[name], excerpt):
            return  # the facts give the decision away
        family = next(d[2] for d in DECISIONS if d[0] == name)
        same = [d[0] for d in DECISIONS if d[2] == family and d[0] != name]
        others = [d[0] for d in DECISIONS if d[2] != family]
        rng = self._rng(source.doc_id, "decision")
        distractors = same + rng.sample(others, len(others))
        stem = f"【案情】{excerpt}\n本案中，检察机关依法作出的决定或采取的监督措施是："
        q = self._single(source, "decision", stem, name, distractors[:3] if len(same) >= 3 else distractors,
                         [_cite(chunk, quote)], f"{chunk.citation}：{quote}", 2, source.title)
        if q is not None:
            yield q

    def cloze(self, source: Source) -> Iterator[Question]:
        crimes, terms = legal_terms()
        vocabulary = sorted(set(terms) | set(crimes), key=len, reverse=True)
        for chunk in _ordered(source, TEACHING_SECTIONS):
            for sentence in _sentences(chunk):
                term = next((t for t in vocabulary if t in sentence and sentence.count(t) == 1), None)
                if term is None:
                    continue
                stem = "填空：" + sentence.replace(term, "＿＿＿＿")
                rng = self._rng(source.doc_id, "cloze", sentence)
                if term in crimes:
                    distractors = [t for t in self._charges_near(term, source) if t not in sentence]
                else:
                    distractors = [t for t in terms if t not in sentence and abs(len(t) - len(term)) <= 2]
                    distractors = rng.sample(distractors, min(len(distractors), 12))
                q = self._single(source, "cloze", stem, term, distractors,
                                 [_cite(chunk, sentence)], f"{chunk.citation}：{sentence}", 1, term)
                if q is not None:
                    yield q

    def true_false(self, source: Source) -> Iterator[Question]:
        for chunk, sentence, negated in self._flippable(source):
            rng = self._rng(source.doc_id, "tf", sentence)
            truth = rng.random() < 0.5
            statement = (sentence if truth else negated).rstrip("；;，,")
            stem = f"判断：{source.case_no}的{chunk.locator}认为，{statement}"
            yield Question(
                id=question_id(source.doc_id, "key_point", sentence), type=QuestionType.true_false, stem=stem,
                options=list(TRUE_FALSE), answer=[0 if truth else 1],
                explanation=f"{chunk.citation}原文：{sentence}", citations=[_cite(chunk, sentence)],
                difficulty=1, topic=source.title, line=source.line, kind="key_point",
                source_hash=source_hash([chunk]),
            )

    def key_points(self, source: Source) -> Iterator[Question]:
        """Multiple answers: two faithful key-point statements among two negated ones."""
        flips = list(self._flippable(source))
        if len(flips) < 4:
            return
        rng = self._rng(source.doc_id, "multi")
        rng.shuffle(flips)
        keep, negate = flips[:2], flips[2:4]
        options = [s for _, s, _ in keep] + [n for _, _, n in negate]
        rng.shuffle(options)
        answer = sorted(options.index(s) for _, s, _ in keep)
        chunks = list({c.chunk_id: c for c, _, _ in keep + negate}.values())
        yield Question(
            id=question_id(source.doc_id, "key_points", *options), type=QuestionType.multi,
            stem=f"关于{source.case_no}，下列说法正确的有（多选）：", options=options, answer=answer,
            explanation="；".join(f"{c.citation}原文：{s.rstrip('；;')}" for c, s, _ in keep + negate),
            citations=[_cite(c, s, n) for n, (c, s, _) in enumerate(keep + negate, start=1)],
            difficulty=3, topic=source.title, line=source.line, kind="key_points", source_hash=source_hash(chunks),
        )

    def _flippable(self, source: Source) -> Iterator[tuple[Chunk, str, str]]:
        for chunk in _ordered(source, TEACHING_SECTIONS):
            for sentence in _sentences(chunk, low=14, high=200):
                if "“" in sentence or "「" in sentence:
                    continue  # never put words into a quoted provision's mouth
                negated = negate(sentence)
                if negated:
                    yield chunk, sentence, negated

    # -- from a statute --------------------------------------------------------------------

    def provision(self, source: Source) -> Iterator[Question]:
        """Which of these is what article X provides (distractors: neighbouring articles of its chapter)."""
        for chunk, first, neighbours in self._articles(source):
            others = [_first(n) for n in neighbours]
            stem = f"下列哪一项是{_article_label(chunk)}的规定？"
            q = self._single(source, "provision", stem, first, others, [_cite(chunk, first)],
                             f"{_article_label(chunk)}：{first}", 2, _chapter(chunk) or source.title)
            if q is not None:
                yield q

    def article(self, source: Source) -> Iterator[Question]:
        """Which article governs this provision's situation."""
        for chunk, first, neighbours in self._articles(source):
            label = _article_label(chunk)
            stem = f"“{first}”——这一规定出自："
            q = self._single(source, "article", stem, label, [_article_label(n) for n in neighbours],
                             [_cite(chunk, first)], f"{label}：{first}", 3, _chapter(chunk) or source.title)
            if q is not None:
                yield q

    def _articles(self, source: Source) -> Iterator[tuple[Chunk, str, list[Chunk]]]:
        articles = [c for c in source.chunks if c.source_id and "款" not in c.locator.replace("第一款", "")]
        rng = self._rng(source.doc_id, "articles")
        order = list(range(len(articles)))
        rng.shuffle(order)
        if source.focus:
            where = {c.chunk_id: i for i, c in enumerate(articles)}
            order = [where[cid] for cid in source.focus if cid in where]
        for i in order:
            chunk = articles[i]
            first = _first(chunk)
            if not first or len(first) < 12:
                continue
            neighbours = [c for c in articles if c is not chunk and c.breadcrumb == chunk.breadcrumb and _first(c)
                          and _article_label(c) != _article_label(chunk)]
            neighbours.sort(key=lambda c: abs(articles.index(c) - i))
            if len(neighbours) >= 3:
                yield chunk, first, neighbours[:6]

    def _charges_near(self, charge: str, source: Source) -> list[str]:
        """Same chapter group first (charges of other cases, then the dictionary), then the rest."""
        groups = crime_groups()
        group = groups.get(charge)
        rng = self._rng(source.doc_id, "charge", "near")
        everything = list(dict.fromkeys([*self.pool.charges, *legal_terms()[0], *groups]))
        everything = [c for c in everything if c != charge and c not in charge and charge not in c]
        same = [c for c in everything if group and groups.get(c) == group]
        rest = [c for c in everything if c not in same]
        rng.shuffle(same)
        rng.shuffle(rest)
        return same + rest


def case_charge(source: Source) -> tuple[str, Chunk] | None:
    """The charge a criminal case turns on: a crime name in its key points (longest wins)."""
    crimes = set(legal_terms()[0])
    for chunk in source.chunks_of(KEY_SECTIONS):
        names = re.findall(r"[\u4e00-\u9fff、]{2,24}?罪", chunk.text)
        found = [n for n in names if n in crimes]
        found += [n for tag in source.tags for n in (tag if tag.endswith("罪") else tag + "罪",)
                  if n in chunk.text and len(n) >= 4 and n not in found]
        found = [n for n in found if not any(n != o and n in o for o in found)]
        if found:
            return max(found, key=len), chunk
    return None


def case_decision(source: Source) -> tuple[str, Chunk, str] | None:
    """The one procuratorial decision the key points (else the handling sections) state."""
    handling = [c.locator for c in source.chunks if c.locator not in (*KEY_SECTIONS, *FACT_SECTIONS, "相关规定", "关键词")]
    for names in (KEY_SECTIONS, tuple(dict.fromkeys(handling))):
        for chunk in source.chunks_of(names):
            for sentence in _sentences(chunk, high=300):
                hits = [d[0] for d in DECISIONS if re.search(d[1], sentence)]
                hits = [h for h in hits if not any(h != o and h in o for o in hits)]
                if len(hits) == 1:
                    return hits[0], chunk, sentence
    return None


def negate(sentence: str) -> str | None:
    """The sentence with its first modal or verdict word flipped, or None when it has none."""
    best = None
    for word, opposite in NEGATIONS:
        at = sentence.find(word)
        if at >= 0 and (best is None or at < best[0] or (at == best[0] and len(word) > len(best[1]))):
            best = (at, word, opposite)
    if best is None:
        return None
    at, word, opposite = best
    return sentence[:at] + opposite + sentence[at + len(word):]


def _ordered(source: Source, sections: Sequence[str]) -> list[Chunk]:
    """The source's chunks of these sections, in the order the sections are named."""
    return [c for name in sections for c in source.chunks if c.locator == name]


def _first(chunk: Chunk) -> str:
    spans = sentence_spans(chunk.text)
    if not spans:
        return ""
    a, b = spans[0]
    text = chunk.text[a:b]
    return text if len(text) <= 120 else ""


def _article_label(chunk: Chunk) -> str:
    return re.sub(r"第[一二三四五六七八九十]+款$", "", chunk.citation)


def _chapter(chunk: Chunk) -> str:
    return chunk.breadcrumb[-1] if len(chunk.breadcrumb) > 1 else ""


# -- LLM ---------------------------------------------------------------------------------------


QUESTION_SCHEMA = {
    "title": "quiz_question",
    "description": "一道依据所给资料出的检察业务选择题",
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["single", "multi", "true_false", "case_analysis"]},
        "stem": {"type": "string", "description": "题干"},
        "options": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 6},
        "answer": {"type": "array", "items": {"type": "integer"}, "description": "正确选项的序号（从0开始）"},
        "explanation": {"type": "string"},
        "quote": {"type": "string", "description": "资料中支持答案的原文（逐字摘录）"},
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 3},
    },
    "required": ["type", "stem", "options", "answer", "explanation", "quote", "difficulty"],
}


class LLMGenerator:
    """Asks the chat model for one question per passage; every reply is validated, repaired once
    (the validation errors go back to the model) or dropped with the reason recorded."""

    name = "llm"

    def __init__(self, model, validate, *, prompt: str, repair: str) -> None:
        self.model = model
        self.validate = validate
        self.prompt = prompt
        self.repair = repair
        self.dropped: list[str] = []

    def candidates(self, source: Source) -> Iterator[Question]:
        chunk = (source.chunks_of(KEY_SECTIONS) or source.chunks)[0]
        request = self.prompt.format(label=chunk.citation, text=chunk.text,
                                     schema=json.dumps(QUESTION_SCHEMA, ensure_ascii=False))
        problems: list[str] = []
        for attempt in range(2):
            message = request if attempt == 0 else self.repair.format(request=request, problems="；".join(problems))
            try:
                raw = self.model.invoke(message)
                data = _json_reply(getattr(raw, "content", raw))
            except Exception as exc:  # noqa: BLE001 - a model failure drops the question, never the quiz
                self.dropped.append(f"{chunk.citation}: the model failed ({type(exc).__name__})")
                return
            question = _from_reply(data, source, chunk) if isinstance(data, dict) else None
            problems = ["not a JSON object with the required fields"] if question is None else self.validate(question,
                                                                                                          source)
            if not problems:
                yield question
                return
        self.dropped.append(f"{chunk.citation}: dropped after one repair: {'；'.join(problems)}")


def _json_reply(content) -> object:
    if isinstance(content, dict):
        return content
    text = content if isinstance(content, str) else ""
    match = re.search(r"\{.*\}", text, re.S)
    return json.loads(match.group()) if match else None


def _from_reply(data: dict, source: Source, chunk: Chunk) -> Question | None:
    try:
        qtype = QuestionType(str(data["type"]))
        options = [str(o).strip() for o in data["options"]]
        answer = sorted({int(i) for i in data["answer"]})
        quote = str(data["quote"]).strip()
        return Question(
            id=question_id(source.doc_id, "llm", str(data["stem"])), type=qtype, stem=str(data["stem"]).strip(),
            options=options, answer=answer, explanation=str(data.get("explanation", "")).strip(),
            citations=[_cite(chunk, quote)], difficulty=max(1, min(3, int(data.get("difficulty", 2)))),
            topic=source.title, line=source.line, kind="llm", source_hash=source_hash([chunk]), generator="llm",
        )
    except (KeyError, TypeError, ValueError):
        return None
