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
from dataclasses import dataclass

from assistant import prompts
from assistant.config import AnswerSettings
from assistant.coverage import about_foreign_law, shipped_model, support_features
from assistant.verify import CJK_RE, Verifier, open_quote, safe_passage
from assistant.index.catalog import Snapshot
from assistant.index.keyword import LegalTokenizer
from assistant.models import Answer, Chunk, Citation, Hit, Kind, Principal, Turn
from assistant.text import (
    looks_like_instruction,
    sentence_spans,
    strip_invisible,
)

log = logging.getLogger(__name__)

KEY_SECTIONS = ("要旨", "裁判要点")
# words that say what kind of question it is, not what it is about
QUESTION_WORDS = frozenset(
    "怎么 怎样 如何 什么 哪些 哪个 哪里 为什么 是否 能否 可否 可以 能够 应当 应该 需要 是不是 有没有 "
    "请问 一下 问题 情况 认定 处理 规定 法律 相关 具体 主要 以及 还是 一般 多少 几 吗 呢 吧 啊 么 "
    "我 你 他 她 我们 他们 这 那 这个 那个 这种 那种 时 时候 的话 要 会 有 没有 被 把".split()
)
_FOLLOWUP_HEAD = re.compile(r"^(那么?|那如果|如果是|要是|还有|另外|此外|其中|那要是|那在|那对于|那当)")
_FOLLOWUP_TAIL = re.compile(r"呢[？?。！!]*$")
_CLAUSE_ONLY = re.compile(r"^[那么就再的]*\s*第([零〇一二三四五六七八九十百两\d]+)(款|项)")
_ARTICLE_ONLY = re.compile(r"^[那么就再的]*\s*第([零〇一二三四五六七八九十百千两\d]+)条")
_CLAUSE_IN = re.compile(r"第([零〇一二三四五六七八九十两\d]+)款")


class StreamCut(Exception):
    """The model's stream stopped before the model said it was done."""


# -- the answerer -----------------------------------------------------------------------------


Search = Callable[..., list[Hit]]


class Answerer:
    """Builds answers from a search function; the chat model is optional and built lazily."""

    def __init__(self, *, search: Search, snapshot: Callable[[], Snapshot], tokenizer: LegalTokenizer,
                 settings: AnswerSettings, chat_model: Callable[[], object | None] = lambda: None) -> None:
        self._search = search
        self._snapshot = snapshot
        self.tokenizer = tokenizer
        self.settings = settings
        self._chat_model = chat_model

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
            reply = model.invoke(prepared.messages())
            text = _content(reply)
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
            for line in answer.text.splitlines(keepends=True):
                yield {"type": "delta", "text": line}
            yield {"type": "answer", "answer": answer}
            return
        verifier = prepared.verifier()
        buffer, raw, sent, finished = "", "", False, False
        try:
            async for piece in model.astream(prepared.messages()):
                meta = getattr(piece, "response_metadata", None) or {}
                finished = finished or bool(meta.get("finish_reason") or meta.get("done_reason") or meta.get("done"))
                text = _content(piece)
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
            for line in answer.text.splitlines(keepends=True):
                yield {"type": "delta", "text": line}
            yield {"type": "answer", "answer": answer}
            return
        answer = prepared.finish(verifier, raw)
        if answer.mode != "llm":  # verification rejected the whole reply
            if sent:
                yield {"type": "reset"}
            for line in answer.text.splitlines(keepends=True):
                yield {"type": "delta", "text": line}
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
                reply = _content(model.invoke(prompts.REWRITE.format(history=dialogue, question=question))).strip()
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
        catalog = self._snapshot().catalog
        named = [(_source_label(sid), sid in catalog.by_source) for sid in catalog.references.resolve(query)]
        named += [(number, sid is not None) for number, sid in catalog.case_references(query)]
        if named and not any(found for _, found in named):
            label = "、".join(label for label, _ in named)
            return _refusal(question, query, f"资料中没有{label}。", _topics(hits), 0.0)
        support = 1.0 if named else self.support(query, hits)
        if not hits or support < self.settings.min_support:
            return _refusal(question, query, prompts.REFUSAL, _topics(hits), support)
        weights = self._weights(query)
        return Prepared(question=question, query=query, hits=hits, weights=weights, support=support)

    def support(self, query: str, hits: Sequence[Hit]) -> float:
        """How well the materials cover the question, 0..1 (assistant/coverage.py)."""
        return shipped_model()(self.support_features(query, hits))

    def coverage(self, question: str, *, principal: Principal) -> tuple[float, float, float]:
        """The support features of a standalone question, as ask() sees them (for calibration)."""
        query = strip_invisible(question).strip()
        return self.support_features(query, self._search(query, principal=principal, k=self.settings.passages, lines=()))

    def support_features(self, query: str, hits: Sequence[Hit]) -> tuple[float, float, float]:
        if not hits:
            return 0.0, 0.0, -4.0
        return support_features(self._weights(query), hits, keyword=self._snapshot().keyword, tokenizer=self.tokenizer)

    def _weights(self, query: str) -> dict[str, float]:
        keyword = self._snapshot().keyword
        tokens = [t for t in dict.fromkeys(self.tokenizer.tokens(query)) if t not in QUESTION_WORDS]
        # jieba's search mode also yields the parts of a long word: the whole word decides
        tokens = [t for t in tokens if not any(t != o and t in o for o in tokens)]
        return {t: keyword.idf(t) for t in tokens}


# -- one prepared question ---------------------------------------------------------------------


@dataclass
class Prepared:
    question: str
    query: str
    hits: list[Hit]
    weights: dict[str, float]
    support: float

    def messages(self) -> list:
        from langchain_core.messages import HumanMessage, SystemMessage

        passages = "\n\n".join(
            prompts.PASSAGE.format(n=i, label=_attr(h.chunk.citation), text=safe_passage(h.chunk.text))
            for i, h in enumerate(self.hits, start=1))
        return [SystemMessage(prompts.SYSTEM), HumanMessage(prompts.PASSAGES.format(passages=passages, question=self.query))]

    def verifier(self) -> "Verifier":
        return Verifier([h.chunk for h in self.hits])

    def extractive(self, *, notice: str | None = None) -> Answer:
        chosen = _choose(self.hits)
        lines, citations = [], []
        for hit in chosen:
            chunk = hit.chunk
            quote = best_span(chunk, self.weights, self.query)
            if not quote:
                continue
            n = len(citations) + 1
            template = (prompts.EXTRACTIVE_PROVISION if chunk.kind in (Kind.statute, Kind.interpretation)
                        else prompts.EXTRACTIVE_CASE if chunk.kind is Kind.case else prompts.EXTRACTIVE_OTHER)
            line = template.format(label=chunk.citation, quote=quote, n=n)
            if "“" in quote or "”" in quote:  # a quote inside the quote: corner brackets outside
                line = line.replace(f"“{quote}”", f"「{quote}」")
            lines.append(line)
            citations.append(_citation(n, chunk, quote))
        if not citations:
            return _refusal(self.question, self.query, prompts.REFUSAL, _topics(self.hits), self.support)
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
            quote = result.quotes.get(index) or best_span(chunk, self.weights, self.query)
            citations.append(_citation(n, chunk, quote))
        notice = prompts.NOTICE_TRIMMED if result.problems else None
        return Answer(question=self.question, query=self.query, text=result.text, citations=citations,
                      grounded=not result.problems and not result.uncited, mode="llm", notice=notice,
                      support=self.support, problems=result.problems)


# -- extractive pieces -------------------------------------------------------------------------


def _choose(hits: Sequence[Hit]) -> list[Hit]:
    """The governing provisions first, then case key points, then the rest; at most four."""
    provisions = [h for h in hits if h.chunk.kind in (Kind.statute, Kind.interpretation)][:2]
    cases = [h for h in hits if h.chunk.kind is Kind.case and h.chunk.locator in KEY_SECTIONS][:2]
    if not cases:
        cases = [h for h in hits if h.chunk.kind is Kind.case][:1]
    chosen = provisions + cases
    if hits and hits[0] not in chosen:
        chosen.insert(0 if hits[0].chunk.kind in (Kind.statute, Kind.interpretation) else len(provisions), hits[0])
    for h in hits:
        if len(chosen) >= 2:
            break
        if h not in chosen:
            chosen.append(h)
    return chosen[:4]


def best_span(chunk: Chunk, weights: dict[str, float], query: str, *, limit: int = 220) -> str:
    """The passage's most relevant one or two consecutive sentences, verbatim (a short
    provision whole; the 款 the question names when it names one)."""
    text = chunk.text
    paragraphs = [p for p in text.split("\n") if p.strip()]
    clause = _CLAUSE_IN.search(query)
    if clause and len(paragraphs) > 1 and "款" not in chunk.locator:
        from assistant.ingest.numerals import cn_to_int

        try:
            index = cn_to_int(clause.group(1)) - 1
        except ValueError:
            index = -1
        if 0 <= index < len(paragraphs) and not looks_like_instruction(paragraphs[index]):
            return paragraphs[index].strip()
    spans = [(a, b) for a, b in sentence_spans(text) if not looks_like_instruction(text[a:b])]
    if not spans:
        return ""
    if chunk.kind in (Kind.statute, Kind.interpretation) and len(text.strip()) <= limit and len(spans) == len(
            sentence_spans(text)):
        return text.strip()
    scored = []
    for i in range(len(spans)):
        for j in (i, i + 1):
            if j >= len(spans):
                continue
            a, b = spans[i][0], spans[j][1]
            if j > i and b - a > limit:
                continue
            body = text[a:b]
            score = sum(w for t, w in weights.items() if t in body)
            scored.append((score, -i, -(j - i), a, b))
    score, _, _, a, b = max(scored)
    return text[a:b].strip()


def _citation(n: int, chunk: Chunk, quote: str) -> Citation:
    return Citation(n=n, label=chunk.citation, source_id=chunk.source_id, chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id, kind=chunk.kind.value, title=chunk.title, quote=quote)


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


def _content(message) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return content if isinstance(content, str) else ""


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
