"""The template generator: questions cut from the corpus text, no model. Every answer is in
its cited passage by construction (validate.py checks it anyway); every wrong option comes
from distractors.py, chosen so that no surface tell (cues.py) points at the answer."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

from assistant.models import Chunk, Citation, Kind, Question, QuestionType
from assistant.quiz import cues
from assistant.quiz.distractors import (
    Balance,
    borrowed,
    choose_options,
    falsehoods,
    pick_falsehood,
    statements,
)
from assistant.quiz.source import (
    FACT_SECTIONS,
    KEY_SECTIONS,
    TEACHING_SECTIONS,
    Pool,
    Source,
    article_label,
    chapter,
    cite,
    excerpt,
    first_sentence,
    ordered,
    question_id,
    sentences,
    source_hash,
)
from assistant.quiz.vocabulary import (
    DECISIONS,
    STAGE_OF,
    STAGES,
    TRUE_FALSE,
    confusable_crimes,
    crime_groups,
    legal_terms,
)

END = "。；;，,"  # an option ends without its sentence's mark, so no mark tells one source from another


class TemplateGenerator:
    """Questions cut from the corpus text; deterministic for a given seed."""

    name = "template"

    def __init__(self, pool: Pool, *, seed: str = "") -> None:
        self.pool = pool
        self.seed = seed
        self.dropped: list[str] = []  # questions the generator could not free of a cue, and why
        self.balance = Balance()  # where the answers fell among their options so far, per kind

    def candidates(self, source: Source) -> Iterator[Question]:
        """Every question this source can give, best kinds first."""
        makers = ([self.charge, self.decision, self.key_points, self.true_false, self.cloze]
                  if source.kind is Kind.case else [self.provision, self.article])
        for make in makers:
            yield from make(source)

    def _rng(self, *parts: str) -> random.Random:
        return random.Random("\x1f".join((self.seed, *parts)))

    def _single(self, source: Source, kind: str, stem: str, correct: str, distractors: Sequence[str],
                cites: list[Citation], explanation: str, difficulty: int, topic: str, *,
                same_form=None) -> Question | None:
        pool = [d for d in dict.fromkeys(distractors) if d and d != correct and d not in stem]
        rng = self._rng(source.doc_id, kind, stem)
        chosen = choose_options([correct], pool, k=3, rng=rng, prefer_same=same_form, stem=stem,
                                balance=self.balance, kind=kind,
                                tells=lambda o, a: cues.tells(o, a) + cues.echo(stem, o, a))
        if chosen is None:  # no set free of every tell: at least none that picks out the answer
            chosen = choose_options([correct], pool, k=3, rng=rng, prefer_same=same_form, stem=stem,
                                    balance=self.balance, kind=kind,
                                    tells=lambda o, a: [t for t in cues.tells(o, a) if t.startswith("the correct")])
        if chosen is None:
            return None
        options = [correct, *chosen]
        rng.shuffle(options)
        chunks = [c for c in source.chunks if c.chunk_id in {x.chunk_id for x in cites}]
        answer = [options.index(correct)]
        return Question(
            id=question_id(source.doc_id, kind, stem, options, answer), type=QuestionType.single, stem=stem,
            options=options, answer=answer, explanation=explanation, citations=cites,
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
        text = excerpt(facts[0].text)
        if not text or core in text:
            text = excerpt(re.sub(re.escape(core) + "罪?", "某罪", facts[0].text))
        stem = f"【案情】{text}\n根据上述案情，对行为人应当以何罪追究刑事责任？"
        quote = next((s for s in sentences(key_chunk, high=400) if charge in s), None)
        if quote is None:
            return
        q = self._single(source, "charge", stem, charge, self._charges_near(charge, source, stem),
                         [cite(key_chunk, quote)], f"{key_chunk.citation}：{quote}", 2, charge,
                         same_form=lambda c: ("、" in c) == ("、" in charge))
        if q is not None:
            yield q

    def decision(self, source: Source) -> Iterator[Question]:
        """Which decision was taken; the wrong options are decisions of the same stage that the
        case mentions nowhere, of the same form (a 不 in each, or in none) where the stage has them."""
        facts = source.chunks_of(FACT_SECTIONS)
        if not facts:
            return
        found = case_decision(source)
        if found is None:
            return
        name, chunk, quote = found
        text = excerpt(facts[0].text)
        if re.search(dict((d[0], d[1]) for d in DECISIONS)[name], text):
            return  # the facts give the decision away
        whole = "\n".join(c.text for c in source.chunks)
        stage = STAGE_OF[next(d[2] for d in DECISIONS if d[0] == name)]
        rng = self._rng(source.doc_id, "decision")

        def usable(names: list[tuple[str, str]]) -> list[str]:
            out = [o for o, mention in names if o != name and o not in name and name not in o
                   and not re.search(mention, whole)]
            rng.shuffle(out)
            return out

        others = [pair for s, names in STAGES.items() if s != stage for pair in names]
        own = usable(STAGES[stage])
        distractors = own + usable(others)
        stem = f"【案情】{text}\n本案中，检察机关依法作出的决定或采取的监督措施是："
        q = self._single(source, "decision", stem, name, distractors, [cite(chunk, quote)],
                         f"{chunk.citation}：{quote}", 2, source.title,
                         same_form=lambda o: (("不" in o) == ("不" in name)) - 0.5 * (o not in own))
        if q is not None:
            yield q

    def cloze(self, source: Source) -> Iterator[Question]:
        crimes, terms = legal_terms()
        vocabulary = sorted(set(terms) | set(crimes), key=len, reverse=True)
        for chunk in ordered(source, TEACHING_SECTIONS):
            for sentence in sentences(chunk):
                # a term whose characters the rest of the sentence mostly holds is no blank to fill
                term = next((t for t in vocabulary if t in sentence and sentence.count(t) == 1
                             and _held(t, sentence.replace(t, "")) < 0.67), None)
                if term is None:
                    continue
                stem = "填空：" + sentence.replace(term, "＿＿＿＿")
                rng = self._rng(source.doc_id, "cloze", sentence)
                if term in crimes:
                    distractors = [t for t in self._charges_near(term, source, stem) if t not in sentence]
                else:  # terms of about its length, those sharing characters with it first
                    distractors = [t for t in terms if t not in sentence and abs(len(t) - len(term)) <= 2]
                    rng.shuffle(distractors)
                    distractors.sort(key=lambda t: -len(set(t) & set(term)))
                q = self._single(source, "cloze", stem, term, distractors,
                                 [cite(chunk, sentence)], f"{chunk.citation}：{sentence}", 1, term,
                                 same_form=lambda t, term=term: (("不" in t) == ("不" in term))
                                 - 0.5 * (len(t) != len(term)))
                if q is not None:
                    yield q

    def true_false(self, source: Source) -> Iterator[Question]:
        """A key-point statement, or a false version of it made without a tell (distractors.py);
        a statement no such version can be made of is not asked. Statements come in pairs: the
        first is true or false at random, the second the other where a false version with the
        first's negation status allows (so neither "a statement with a negation word is false"
        nor "every statement is true" is right on both), else such that the negation player is
        right on exactly one — a case's statements give those players chance, not merely in the
        long run."""
        whole = "\n".join(c.text for c in source.chunks)
        first: tuple[bool, bool] | None = None  # the pair's first statement: true?, shown with a negation?

        def negated(text: str) -> bool:
            return bool(cues.NEGATION.search(text))

        for chunk, sentence in statements(source):
            found = falsehoods(sentence, context=whole)
            if not found:
                continue
            rng = self._rng(source.doc_id, "tf", sentence)
            false = pick_falsehood(found, rng)
            if first is None:  # a false version keeps the statement's negation status where one can
                truth = rng.random() < 0.5
                keeps = [f for f in found if negated(f.text) == negated(sentence)]
                false = keeps[rng.randrange(len(keeps))] if keeps and false not in keeps else false
            else:
                was_true, was_negated = first
                alike = [f for f in found if negated(f.text) == was_negated]
                if was_true and alike:
                    truth, false = False, alike[rng.randrange(len(alike))]
                elif not was_true and negated(sentence) == was_negated:
                    truth = True
                else:  # one constraint only: the negation player right on exactly one of the two
                    right = negated(sentence if was_true else false.text) != was_true
                    fits = [t for t in (True, False) if (negated(sentence if t else false.text) != t) != right]
                    truth = fits[0] if len(fits) == 1 else rng.random() < 0.5
            first = (truth, negated(sentence if truth else false.text)) if first is None else None
            statement = (sentence if truth else false.text).rstrip("；;，,")
            stem = f"判断：{source.case_no}的{chunk.locator}认为，{statement}"
            why = f"{chunk.citation}原文：{sentence}" + ("" if truth else f"（{false.note}）")
            yield Question(
                id=question_id(source.doc_id, "key_point", stem, TRUE_FALSE, [0 if truth else 1]),
                type=QuestionType.true_false, stem=stem, options=list(TRUE_FALSE), answer=[0 if truth else 1],
                explanation=why,
                citations=[cite(chunk, sentence)], difficulty=1 if truth or false.method != "word" else 2,
                topic=source.title, line=source.line, kind="key_point", source_hash=source_hash([chunk]),
            )

    def key_points(self, source: Source) -> Iterator[Question]:
        """Several answers: two or three of the case's statements, the rest false versions of
        others of its statements or statements of another case of the same line."""
        whole = "\n".join(c.text for c in source.chunks)
        rng = self._rng(source.doc_id, "multi")
        usable = [(c, s, falsehoods(s, context=whole)) for c, s in statements(source)]
        usable = [u for u in usable if u[2]]
        if len(usable) < 3:
            return
        for attempt in range(12):
            rng.shuffle(usable)
            right = 3 if len(usable) >= 4 and rng.random() < 0.5 else 2
            keep, rest = usable[:right], usable[right:]
            wrong: list[tuple[Chunk, str, str, str]] = []  # chunk, original, option, note
            for c, s, found in rest[:4 - right]:
                false = pick_falsehood(found, rng)
                wrong.append((c, s, false.text.rstrip(END), false.note))
            mean = sum(len(s) for _, s, _ in keep) // len(keep)
            if len(wrong) < 4 - right or (right == 2 and rng.random() < 0.5):
                for c, s in borrowed(source, self.pool, length=mean, n=4, rng=rng)[:4 - right - len(wrong)]:
                    wrong.append((c, s, s.rstrip(END), f"此说出自{c.citation}，并非本案的观点"))
            if len(wrong) < 4 - right:
                return
            wrong = wrong[:4 - right]
            options = [s.rstrip(END) for _, s, _ in keep] + [o for _, _, o, _ in wrong]
            if len(set(options)) < 4:
                continue
            order = list(range(4))
            rng.shuffle(order)
            options = [options[i] for i in order]
            answer = sorted(order.index(i) for i in range(right))
            found = cues.tells(options, answer)
            if found and attempt < 11:
                continue
            told = [t for t in found if t.startswith("the correct")]
            if told:  # no arrangement of this case's statements hides the answer: withheld, with the reason
                self.dropped.append(f"{source.title}: key_points: withheld, cue: {told[0]}")
                return
            chunks = list({c.chunk_id: c for c, _, _ in keep}.values()) + [c for c, *_ in wrong]
            explanation = "；".join([f"{c.citation}原文：{s.rstrip('；;')}（正确）" for c, s, _ in keep]
                                   + [f"{c.citation}：{s.rstrip('；;')}（{note}）" for c, s, _, note in wrong])
            stem = f"下列说法中，符合{source.case_no}要旨或指导意义的有（多选）："
            yield Question(
                id=question_id(source.doc_id, "key_points", stem, options, answer), type=QuestionType.multi,
                stem=stem, options=options, answer=answer,
                explanation=explanation,
                citations=[cite(c, s, n) for n, (c, s) in enumerate([(c, s) for c, s, _ in keep]
                                                                   + [(c, s) for c, s, _, _ in wrong], start=1)],
                difficulty=3, topic=source.title, line=source.line, kind="key_points",
                source_hash=source_hash(list({c.chunk_id: c for c in chunks}.values())),
            )
            return

    # -- from a statute --------------------------------------------------------------------

    def provision(self, source: Source) -> Iterator[Question]:
        """Which of these is what article X provides (distractors: neighbouring articles of its chapter)."""
        for chunk, first, neighbours in self._articles(source):
            others = [first_sentence(n) for n in neighbours]
            stem = f"下列哪一项是{article_label(chunk)}的规定？"
            q = self._single(source, "provision", stem, first, others, [cite(chunk, first)],
                             f"{article_label(chunk)}：{first}", 2, chapter(chunk) or source.title)
            if q is not None:
                yield q

    def article(self, source: Source) -> Iterator[Question]:
        """Which article governs this provision's situation."""
        for chunk, first, neighbours in self._articles(source):
            label = article_label(chunk)
            stem = f"“{first}”——这一规定出自："
            q = self._single(source, "article", stem, label, [article_label(n) for n in neighbours],
                             [cite(chunk, first)], f"{label}：{first}", 3, chapter(chunk) or source.title)
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
            first = first_sentence(chunk)
            if not first or len(first) < 12:
                continue
            neighbours = [c for c in articles if c is not chunk and c.breadcrumb == chunk.breadcrumb
                          and first_sentence(c) and article_label(c) != article_label(chunk)]
            neighbours.sort(key=lambda c: abs(articles.index(c) - i))
            if len(neighbours) >= 3:
                yield chunk, first, neighbours[:6]

    def _charges_near(self, charge: str, source: Source, stem: str) -> list[str]:
        """Confusable crimes first (same chapter group, those the facts also suggest — sharing
        words with the stem — first), then charges of other cases and the dictionary."""
        groups = crime_groups()
        rng = self._rng(source.doc_id, "charge", "near")
        everything = list(dict.fromkeys([*self.pool.charges, *legal_terms()[0], *groups]))
        everything = [c for c in everything if c != charge and c not in charge and charge not in c
                      and not c.endswith("犯罪") and len(c) >= 3]
        group = groups.get(charge)
        core = set(charge.removesuffix("罪")) - set("、")
        same = list(dict.fromkeys([*confusable_crimes(charge),
                                   *(c for c in everything if group and groups.get(c) == group),
                                   *(c for c in everything if len(core & set(c.removesuffix("罪"))) >= 2)]))
        rng.shuffle(same)
        same.sort(key=lambda c: -len(set(c.removesuffix("罪")) & set(stem)))
        rest = [c for c in everything if c not in same]
        rng.shuffle(rest)
        return same + rest


def _held(term: str, text: str) -> float:
    chars = set(term)
    return len(chars & set(text)) / len(chars) if chars else 0.0


def case_charge(source: Source) -> tuple[str, Chunk] | None:
    """The charge a criminal case turns on: a crime name in its key points (longest wins)."""
    crimes = set(legal_terms()[0])
    for chunk in source.chunks_of(KEY_SECTIONS):
        names = re.findall(r"[\u4e00-\u9fff、]{2,24}?罪", chunk.text)
        found = [n for n in names if n in crimes]
        found += [n for tag in source.tags for n in (tag if tag.endswith("罪") else tag + "罪",)
                  if n in chunk.text and len(n) >= 4 and n not in found]
        found = [n for n in found if not any(n != o and n in o for o in found)
                 and not n.endswith("犯罪")]  # 上下游犯罪, 职务犯罪: a kind of crimes, no charge
        if found:
            return max(found, key=len), chunk
    return None


def case_decision(source: Source) -> tuple[str, Chunk, str] | None:
    """The one procuratorial decision the key points (else the handling sections) state."""
    skip = (*KEY_SECTIONS, *FACT_SECTIONS, "相关规定", "关键词")
    handling = [c.locator for c in source.chunks if c.locator not in skip]
    for names in (KEY_SECTIONS, tuple(dict.fromkeys(handling))):
        for chunk in source.chunks_of(names):
            for sentence in sentences(chunk, high=300):
                hits = [d[0] for d in DECISIONS if re.search(d[1], sentence)]
                hits = [h for h in hits if not any(h != o and h in o for o in hits)]
                if len(hits) == 1:
                    return hits[0], chunk, sentence
    return None
