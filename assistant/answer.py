"""ask(): resolve the question -> retrieve for this caller -> decline or compose -> cite -> verify.

Without a model the answer is extractive: the governing provision quoted first, then the
key points of the relevant cases, each sentence with its [n]; nothing is written that is
not in a passage. With a model (llm.py) the passages go to it numbered, and whatever it
writes is checked here afterwards: every [n] must name a passage retrieved for this caller,
every quoted span must occur verbatim in its passage, and article numbers, case numbers and
links that occur in no passage are taken out. A dead, slow or confused model falls back to
the extractive answer with a one-line notice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from assistant import llm, prompts
from assistant.config import AnswerSettings
from assistant.coverage import SupportModel, about_foreign_law, shipped_model, support_features
from assistant.extract import Excerpt, excerpt, expanded_weights
from assistant.index.catalog import Snapshot
from assistant.index.keyword import STOP_WORDS, LegalTokenizer, lay_terms
from assistant.index.store import SearchFilter
from assistant.models import Answer, Chunk, Citation, Hit, Kind, Principal, Turn
from assistant.relevance import RelevanceModel, relevance_features, shipped_relevance
from assistant.text import strip_invisible
from assistant.verify import CJK_RE, Verifier, open_quote, safe_passage

log = logging.getLogger(__name__)

# words that say what kind of question it is, not what it is about
QUESTION_WORDS = STOP_WORDS | frozenset(
    "哪个 哪里 为什么 能否 可否 能够 应该 需要 是不是 有没有 请问 一下 问题 情况 认定 处理 "
    "法律 相关 具体 主要 还是 一般 多少 几 么 怎么办 咋办 咋 能不能 不能不 可不可以 会不会 "
    "要不要 该不该 算不算 归谁 多久 多长时间 有哪些 这种 那种 时 时候 的话".split()
)
_FOLLOWUP_HEAD = re.compile(r"^(那么?|那如果|如果是|要是|还有|另外|此外|其中|那要是|那在|那对于|那当)")
_FOLLOWUP_TAIL = re.compile(r"呢[？?。！!]*$")
_CLAUSE_ONLY = re.compile(r"^[那么就再的]*\s*第([零〇一二三四五六七八九十百两\d]+)(款|项)")
_ARTICLE_ONLY = re.compile(r"^[那么就再的]*\s*第([零〇一二三四五六七八九十百千两\d]+)条")


class StreamCut(Exception):
    """The model's stream stopped before the model said it was done."""


# -- the answerer -----------------------------------------------------------------------------


Search = Callable[..., list[Hit]]


class Answerer:
    """Builds answers from a search function; the chat model is optional and built lazily."""

    def __init__(self, *, search: Search, snapshot: Callable[[], Snapshot], tokenizer: LegalTokenizer,
                 settings: AnswerSettings, chat_model: Callable[[], object | None] = lambda: None,
                 relevance: Callable[[], RelevanceModel] = shipped_relevance,
                 support_model: Callable[[], SupportModel] = shipped_model) -> None:
        self._search = search
        self._snapshot = snapshot
        self.tokenizer = tokenizer
        self.settings = settings
        self._chat_model = chat_model
        self._relevance = relevance  # evaluations pass the model of a fold
        self._support_model = support_model

    # -- public -------------------------------------------------------------------------

    def ask(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
            lines: tuple[str, ...] = ()) -> Answer:
        prepared = self._prepare(question, principal=principal, history=history, lines=lines)
        if isinstance(prepared, Answer):
            return prepared
        model = self._model()
        if model is None:
            return prepared.extractive()
        try:
            text = model.complete(prepared.messages())
        except Exception as exc:  # noqa: BLE001 - any client failure falls back, never a traceback
            return prepared.extractive(notice=prompts.NOTICE_FALLBACK.format(reason=_failure(exc)))
        return prepared.from_model(text)

    async def ask_stream(self, question: str, *, principal: Principal, history: Sequence[Turn] = (),
                         lines: tuple[str, ...] = ()) -> AsyncIterator[dict]:
        """Events: {"type": "delta", "text"} ..., then {"type": "answer", "answer": Answer}.

        A {"type": "reset"} means: discard the deltas so far (the model failed mid-way and
        the extractive answer follows). Deltas are verified sentence by sentence before
        they are sent, so nothing unverified reaches a reader.
        """
        prepared = await asyncio.to_thread(self._prepare, question, principal=principal, history=history,
                                           lines=lines)
        model = None if isinstance(prepared, Answer) else await asyncio.to_thread(self._model)
        if model is None:
            answer = prepared if isinstance(prepared, Answer) else prepared.extractive()
            for piece in _pieces(answer.text):
                yield {"type": "delta", "text": piece}
            yield {"type": "answer", "answer": answer}
            return
        verifier = prepared.verifier()
        buffer, raw, sent, finished = "", "", False, False
        try:
            async for delta in model.stream(prepared.messages()):
                finished = finished or delta.finished
                text = delta.text
                raw += text
                buffer += text
                done, buffer = _complete_sentences(buffer)
                for sentence in done:
                    clean = verifier.sentence(sentence)
                    if clean:
                        sent = True
                        yield {"type": "delta", "text": clean}
            if not finished:
                raise StreamCut("the stream ended without a finish reason")
            if buffer.strip():
                clean = verifier.sentence(buffer)
                if clean:
                    sent = True
                    yield {"type": "delta", "text": clean}
        except Exception as exc:  # noqa: BLE001
            answer = prepared.extractive(notice=prompts.NOTICE_FALLBACK.format(reason=_failure(exc)))
            if sent:
                yield {"type": "reset"}
            for piece in _pieces(answer.text):
                yield {"type": "delta", "text": piece}
            yield {"type": "answer", "answer": answer}
            return
        answer = prepared.finish(verifier, raw)
        if answer.mode != "llm":  # verification rejected the whole reply
            if sent:
                yield {"type": "reset"}
            for piece in _pieces(answer.text):
                yield {"type": "delta", "text": piece}
        yield {"type": "answer", "answer": answer}

    def standalone(self, question: str, history: Sequence[Turn]) -> str:
        """The follow-up as a question that stands alone (model rewrite, else carried-over keys)."""
        history = list(history)[-self.settings.history_turns:] if self.settings.history_turns else []
        if not history or not _is_followup(question):
            return question
        model = self._model()
        if model is not None:
            try:
                dialogue = "\n".join(f"问：{t.query}" for t in history)
                reply = model.complete(llm.ask(prompts.REWRITE.format(history=dialogue, question=question))).strip()
                if reply and "\n" not in reply and len(reply) <= 200 and CJK_RE.search(reply):
                    return reply
            except Exception as exc:  # noqa: BLE001 - the rules below still resolve it
                log.info("follow-up rewrite failed, using the rules: %s", _failure(exc))
        return carry_over(question, history[-1], self._snapshot().catalog.references.resolve)

    # -- steps --------------------------------------------------------------------------

    def _model(self):
        return self._chat_model()

    def _prepare(self, question: str, *, principal: Principal, history: Sequence[Turn],
                 lines: tuple[str, ...]) -> "Prepared | Answer":
        question = strip_invisible(question).strip()
        query = self.standalone(question, history)
        if about_foreign_law(query):
            return _refusal(question, query, prompts.REFUSAL_FOREIGN, [], 0.0)
        hits = self._search(query, principal=principal, k=self.settings.passages, lines=lines)
        snapshot = self._snapshot()
        catalog, readable = snapshot.catalog, self._readable_rows(principal)

        def found(sid: str | None) -> bool:  # indexed, and readable by this principal
            return any(readable is None or readable[row] for row in catalog.by_source.get(sid or "", ()))

        named = [(_source_label(sid), found(sid)) for sid in catalog.references.resolve(query)]
        named += [(number, found(sid)) for number, sid in catalog.case_references(query)]
        if named and not any(present for _, present in named):
            label = "、".join(label for label, _ in named)
            return _refusal(question, query, f"资料中没有{label}。", _topics(hits), 0.0)
        support = 1.0 if named else self.support(query, hits, principal=principal)
        if not hits or support < self.settings.min_support:
            return _refusal(question, query, prompts.REFUSAL, _topics(hits), support)
        weights = self.terms(query, principal=principal)
        return Prepared(question=question, query=query, hits=self.relevant(hits, weights, query), weights=weights,
                        support=support, retrieved=hits)

    def support(self, query: str, hits: Sequence[Hit], *, principal: Principal | None = None) -> float:
        """How well the materials ``principal`` may read cover the question, 0..1 (assistant/coverage.py)."""
        return self._support_model()(self.support_features(query, hits, principal=principal))

    def relevant(self, hits: Sequence[Hit], weights: dict[str, float], query: str) -> list[Hit]:
        """The passages worth citing, most probable first (assistant/relevance.py); an article the
        question names comes first whatever the model says."""
        model = self._relevance()
        probabilities = model.probabilities(relevance_features(hits, weights, query))
        chosen = [hits[i] for i in model.select(hits, probabilities)]
        named = [h for h in hits if "reference" in h.scores][:2]
        return named + [h for h in chosen if all(h is not n for n in named)]

    def coverage(self, question: str, *, principal: Principal) -> tuple[float, ...]:
        """The support features of a standalone question, as ask() sees them (for calibration)."""
        query = strip_invisible(question).strip()
        return self.support_features(query, self._search(query, principal=principal, k=self.settings.passages, lines=()),
                                     principal=principal)

    def support_features(self, query: str, hits: Sequence[Hit], *,
                         principal: Principal | None = None) -> tuple[float, ...]:
        if not hits:
            return 0.0, 0.0, -4.0, 0.0, -4.0, 0.0
        keyword = self._keyword(principal)
        return support_features(self._weights(query, keyword), hits, keyword=keyword, tokenizer=self.tokenizer,
                                lay=lay_terms())

    def _weights(self, query: str, keyword) -> dict[str, float]:
        tokens = list(dict.fromkeys(self.tokenizer.tokens(query)))
        # jieba's search mode also yields the parts of a long word: the whole word decides (so
        # 不能 goes with 不能不, a question word)
        tokens = [t for t in tokens if not any(t != o and t in o for o in tokens)]
        return {t: keyword.idf(t) for t in tokens if t not in QUESTION_WORDS}

    def terms(self, query: str, *, principal: Principal | None = None) -> dict[str, float]:
        """The question's key terms with the legal terms its layperson words mean (term -> weight)."""
        keyword = self._keyword(principal)
        return expanded_weights(self._weights(query, keyword), query, lay_terms(), keyword.idf)

    def _readable_rows(self, principal: Principal | None):
        """The chunks ``principal`` may read, as the catalog's mask; None for all of them (no
        principal: an evaluation over the whole corpus)."""
        if principal is None or principal.sees_everything:
            return None
        return self._snapshot().catalog.mask(SearchFilter.for_principal(principal))

    def _keyword(self, principal: Principal | None):
        """The keyword statistics over what ``principal`` may read: whether the materials cover a
        question, and how much its words weigh, never depend on material the asker may not read."""
        return self._snapshot().keyword.view(self._readable_rows(principal))


# -- one prepared question ---------------------------------------------------------------------


@dataclass
class Prepared:
    question: str
    query: str
    hits: list[Hit]  # the passages worth citing (relevance.py), most probable first
    weights: dict[str, float]
    support: float
    retrieved: list[Hit] = field(default_factory=list)  # everything retrieved (the closest topics)

    def messages(self) -> list[llm.Message]:
        passages = "\n\n".join(
            prompts.PASSAGE.format(n=i, label=_attr(h.chunk.citation), text=safe_passage(h.chunk.text))
            for i, h in enumerate(self.hits, start=1))
        return [llm.Message("system", prompts.SYSTEM),
                llm.Message("user", prompts.PASSAGES.format(passages=passages, question=self.query))]

    def verifier(self) -> "Verifier":
        return Verifier([h.chunk for h in self.hits])

    def extractive(self, *, notice: str | None = None) -> Answer:
        """The sentence that answers first (from the most relevant passage), then the other
        provisions and the cases, each cut to the sentences that matter."""
        lines, citations = [], []
        for hit, piece in _ordered(self.hits, self.weights, self.query):
            n = len(citations) + 1
            chunk = hit.chunk
            template = (prompts.EXTRACTIVE_PROVISION if chunk.kind in (Kind.statute, Kind.interpretation)
                        else prompts.EXTRACTIVE_CASE if chunk.kind is Kind.case else prompts.EXTRACTIVE_OTHER)
            lines.append(template.format(label=chunk.citation, quoted=piece.quoted(), n=n))
            citations.append(_citation(n, chunk, piece.quote))
        if not citations:
            return _refusal(self.question, self.query, prompts.REFUSAL, _topics(self.retrieved or self.hits),
                            self.support)
        text = "\n".join(lines)
        if notice:
            text = f"{notice}\n{text}"
        return Answer(question=self.question, query=self.query, text=text, citations=citations, grounded=True,
                      mode="extractive", notice=notice, support=self.support)

    def from_model(self, text: str) -> Answer:
        verifier = self.verifier()
        done, rest = _complete_sentences(text)
        for sentence in [*done, rest]:
            verifier.sentence(sentence)
        return self.finish(verifier, text)

    def finish(self, verifier: "Verifier", raw: str) -> Answer:
        result = verifier.result()
        if result.leaked or not result.citations:
            if prompts.NOT_ENOUGH in raw and not result.leaked:
                return _refusal(self.question, self.query, prompts.REFUSAL, _topics(self.hits), self.support)
            answer = self.extractive(notice=prompts.NOTICE_UNVERIFIED)
            answer.problems = result.problems
            return answer
        citations = []
        for n, index in enumerate(result.citations, start=1):
            chunk = self.hits[index].chunk
            piece = excerpt(chunk, self.weights, self.query)
            citations.append(_citation(n, chunk, result.quotes.get(index) or (piece.quote if piece else chunk.text)))
        notice = prompts.NOTICE_TRIMMED if result.problems else None
        return Answer(question=self.question, query=self.query, text=result.text, citations=citations,
                      grounded=not result.problems and not result.uncited, mode="llm", notice=notice,
                      support=self.support, problems=result.problems)


# -- extractive pieces -------------------------------------------------------------------------


def _ordered(hits: Sequence[Hit], weights: dict[str, float], query: str) -> list[tuple[Hit, Excerpt]]:
    """The first passage (the answer) first; then provisions, cases and the rest, each in the
    order of relevance; passages with nothing quotable left out."""
    pieces = [(h, p) for h in hits if (p := excerpt(h.chunk, weights, query)) is not None]
    if not pieces:
        return []

    def group(hit: Hit) -> int:
        kind = hit.chunk.kind
        return 0 if kind in (Kind.statute, Kind.interpretation) else 1 if kind is Kind.case else 2

    return pieces[:1] + sorted(pieces[1:], key=lambda hp: group(hp[0]))


def _citation(n: int, chunk: Chunk, quote: str) -> Citation:
    return Citation(n=n, label=chunk.citation, source_id=chunk.source_id, chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id, kind=chunk.kind.value, title=chunk.title, quote=quote,
                    passage=chunk.text)


def _topics(hits: Sequence[Hit], n: int = 3) -> list[str]:
    """Closest topics that do exist: the best passages' titles or labels, distinct."""
    out: list[str] = []
    for h in hits:
        c = h.chunk
        topic = c.citation if c.kind in (Kind.statute, Kind.interpretation) else (c.title or c.citation)
        if topic and topic not in out:
            out.append(topic)
        if len(out) >= n:
            break
    return out


def _refusal(question: str, query: str, reason: str, topics: list[str], support: float) -> Answer:
    text = reason
    if topics:
        text += prompts.REFUSAL_SUGGEST.format(topics="、".join(topics))
    return Answer(question=question, query=query, text=text, citations=[], grounded=True, mode="refusal",
                  refusal=reason, suggestions=topics, support=support)


def _source_label(source_id: str) -> str:
    law, _, article = source_id.partition("#")
    return f"《{law}》{article}" if article else source_id


# -- follow-ups --------------------------------------------------------------------------------


def _is_followup(question: str) -> bool:
    q = question.strip()
    return bool(_FOLLOWUP_HEAD.search(q) or _CLAUSE_ONLY.search(q) or _ARTICLE_ONLY.search(q)
                or (_FOLLOWUP_TAIL.search(q) and len(q) <= 12)
                or re.search(r"(这种|这类|该|上述|这个|那个|此类|前述)(情况|情形|行为|罪|案件|规定|条)", q))


def carry_over(question: str, last: Turn, resolve: Callable[[str], list[str]]) -> str:
    """Rules for follow-ups without a model: '第二款呢？' takes the last article, '那防卫过当呢？'
    the last question's subject."""
    q = question.strip()
    refs = resolve(last.query) or [s for s in last.sources if "#" in s]
    clause = _CLAUSE_ONLY.search(q)
    if clause and refs:
        law, _, article = refs[0].partition("#")
        return f"{law}{article}第{clause.group(1)}{clause.group(2)}" + _rest(q[clause.end():])
    article = _ARTICLE_ONLY.search(q)
    if article and refs:
        law = refs[0].partition("#")[0]
        return f"{law}第{article.group(1)}条" + _rest(q[article.end():])
    core = _FOLLOWUP_TAIL.sub("", _FOLLOWUP_HEAD.sub("", q)).strip(" ，,。？?")
    return f"{core}（{last.query.rstrip('？?。')}）" if core else last.query


def _rest(text: str) -> str:
    rest = _FOLLOWUP_TAIL.sub("", text).strip(" ，,。？?")
    return f" {rest}" if rest else ""


# -- small helpers -----------------------------------------------------------------------------


def _attr(text: str) -> str:
    return text.replace('"', "＂").replace("<", "＜").replace(">", "＞")


def _complete_sentences(buffer: str) -> tuple[list[str], str]:
    """Split off the sentences that are finished (a 。！？ or a newline and what closes them).

    A boundary inside an open quotation is no boundary: a quote is checked whole.
    """
    done, start = [], 0
    for m in re.finditer(r"[。！？!?；;]+(?:\s*(?:\[\s*\d[\d,，、\s]*\]|【\d+】))*[”」』）)]*\n?|\n", buffer):
        if m.end() == len(buffer) and not m.group().endswith("\n"):
            break  # a marker may still follow
        if open_quote(buffer[start:m.end()]):
            continue
        done.append(buffer[start:m.end()])
        start = m.end()
    return done, buffer[start:]


def _pieces(text: str) -> list[str]:
    """A finished answer as stream deltas: each line, cut after its colons (a label and its quote,
    so that an answer of one provision still arrives in pieces); joined they are the text."""
    return [p for p in re.split(r"(?<=[：\n])", text) if p]


def _failure(exc: Exception) -> str:
    name = type(exc).__name__.lower()
    status = getattr(exc, "status_code", None)
    if "timeout" in name or isinstance(exc, TimeoutError):
        return "超时"
    if "connect" in name:
        return "无法连接"
    if isinstance(exc, StreamCut):
        return "中断"
    if status:
        return f"出错（HTTP {status}）"
    return "出错"
