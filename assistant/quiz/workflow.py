"""Quizzes as their users meet them: made from the material a caller may read, read back only
as far as the caller may read its sources, drafts for trainers and their maker, answers graded
and recorded for the caller's learner identity, published and exported by trainers.

Every call takes the caller's :class:`Principal`; what they may not read is not there
(``NotFound``), what their role may not do is refused (``AccessDenied``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from assistant.access import is_trainer, may_read, require_trainer
from assistant.db import now
from assistant.errors import NotFound
from assistant.index.docstore import COMMITTED, DocStore
from assistant.learners import Grade, Learners
from assistant.llm import ChatModel
from assistant.models import Hit, Kind, Principal, Question, Quiz
from assistant.quiz.store import QuizStore

HIDDEN_FROM_LEARNERS = ("answer", "explanation", "citations", "source_hash")


class QuizWorkflow:
    def __init__(self, *, docstore: DocStore, store: QuizStore, learners: Learners, search: Callable[..., list[Hit]],
                 chat_model: Callable[[], ChatModel | None]) -> None:
        self.docstore = docstore
        self.store = store
        self.learners = learners
        self._search = search
        self._chat_model = chat_model
        self.observers: list[Callable[..., None]] = []  # called after each recorded answer (training's Recorder)

    # -- making ---------------------------------------------------------------------------

    def sources(self, *, principal: Principal, topic: str | None = None, case: str | None = None,
                line: str | None = None, limit: int = 8) -> list:
        """Documents to make questions from, only those the principal may read."""
        from assistant.quiz.generate import Source

        entries = {d: e for d, e in self.docstore.load().items()
                   if e.state == COMMITTED and may_read(principal, e.access)}

        def source(entry, focus=()) -> Source:
            chunks = sorted(self.docstore.get_chunks(entry.chunk_ids).values(), key=lambda c: c.ordinal)
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
                first = self.docstore.get_chunks(entry.chunk_ids[:1])
                if any(c.citation.split("·", 1)[0] == wanted for c in first.values()):
                    return [source(entry)]
            raise NotFound(f"no case {case!r} in the index (give its number such as 检例第45号, its title or its id)")
        if topic:
            hits = self._search(topic, principal=principal, k=30, lines=(line,) if line else ())
            order: dict[str, list[str]] = {}
            for h in hits:
                order.setdefault(h.chunk.doc_id, []).append(h.chunk.chunk_id)
            return [source(entries[d], focus) for d, focus in order.items() if d in entries][:limit]
        cases = sorted((e for e in entries.values() if e.kind == Kind.case.value and (not line or e.line == line)),
                       key=lambda e: e.doc_id)
        return [source(e) for e in cases[:limit]]

    def make(self, *, principal: Principal, topic: str | None = None, case: str | None = None,
             line: str | None = None, n: int = 5, use_model: bool = True, save: bool = True) -> Quiz:
        """Generate, validate and save a draft quiz of ``n`` questions (fewer if the sources give fewer);
        ``save=False`` only makes it (training combines several cases' questions into one quiz)."""
        from assistant import prompts
        from assistant.quiz import Tally, assemble, collect, pick
        from assistant.quiz.generate import LLMGenerator, Pool, TemplateGenerator, case_charge
        from assistant.quiz.validate import validate

        sources = self.sources(principal=principal, topic=topic, case=case, line=line)
        if not sources:
            raise NotFound("no material to make questions from" + (f" on {topic!r}" if topic else ""))
        siblings = self.siblings(sources, principal=principal)
        texts = {c.chunk_id: c.text for s in [*sources, *siblings] for c in s.chunks}
        pool = Pool(charges=[found[0] for s in sources if (found := case_charge(s))], cases=siblings)
        tally = Tally()
        salt = secrets.token_hex(4)  # each request a new quiz (and id), even when two ask at the same moment
        model = self._chat_model() if use_model else None
        generator = (LLMGenerator(model, lambda q, _s: validate(q, texts), prompt=prompts.QUIZ,
                                  repair=prompts.QUIZ_REPAIR)
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
                        line=line or sources[0].line, user=principal.learner, salt=salt, dropped=tally.dropped)
        if save:
            self.store.save_quiz(quiz)
        return quiz

    def siblings(self, sources: Sequence, *, principal: Principal) -> list:
        """The other cases of the sources' lines that this principal may read: where a wrong option
        borrowed from another case may come from (never from a case the principal may not see)."""
        lines = {s.line for s in sources if s.kind is Kind.case}
        return [s for ln in sorted(lines) for s in self.sources(principal=principal, line=ln, limit=10**6)]

    # -- reading ----------------------------------------------------------------------------

    def get(self, quiz_id: str, *, principal: Principal) -> Quiz:
        """The quiz with the questions whose every source the principal may read; a draft only
        for trainers and for whoever made it. NotFound when nothing of it is theirs to see."""
        quiz = self.store.get_quiz(quiz_id)
        if quiz.status != "published" and not is_trainer(principal) and quiz.created_by != principal.learner:
            raise NotFound(f"no quiz {quiz_id!r}")
        quiz.questions = self.readable(quiz.questions, principal=principal)
        if not quiz.questions:
            raise NotFound(f"no quiz {quiz_id!r}")
        self._mark_stale(quiz.questions)
        return quiz

    def readable(self, questions: Sequence[Question], *, principal: Principal) -> list[Question]:
        """The questions whose every cited document the principal may read (a question whose
        source is gone is shown only to those who see everything)."""
        if principal.sees_everything:
            return list(questions)
        access = self.docstore.access_of({c.doc_id for q in questions for c in q.citations})
        return [q for q in questions
                if all(c.doc_id in access and may_read(principal, access[c.doc_id]) for c in q.citations)]

    def _mark_stale(self, questions: Sequence[Question]) -> None:
        """Published questions whose cited passages changed or went since they were made."""
        from assistant.quiz.generate import source_hash

        current = self.docstore.get_chunks([c.chunk_id for q in questions for c in q.citations])
        for q in questions:
            chunks = [current.get(c.chunk_id) for c in q.citations]
            unique = list({c.chunk_id: c for c in chunks if c is not None}.values())
            q.stale = q.status == "published" and (None in chunks or source_hash(unique) != q.source_hash)

    def view(self, quiz: Quiz, *, principal: Principal) -> dict:
        """The quiz as data for this principal: learners never see answers before answering."""
        data = quiz.to_dict()
        data["questions"] = [self.question_view(q, principal=principal) for q in quiz.questions]
        if not is_trainer(principal):
            data.pop("dropped", None)
        return data

    @staticmethod
    def question_view(question: Question, *, principal: Principal) -> dict:
        data = question.to_dict()
        if not is_trainer(principal):
            for hidden in HIDDEN_FROM_LEARNERS:
                data.pop(hidden, None)
        return data

    # -- answering, reviews, progress --------------------------------------------------------------

    def grade(self, question_id: str, chosen: Sequence[int], *, principal: Principal,
              quiz_id: str | None = None) -> Grade:
        """Grade and record an answer to a question the principal may see (in ``quiz_id`` if given)."""
        if quiz_id is not None:
            questions = [q for q in self.get(quiz_id, principal=principal).questions if q.id == question_id]
            if not questions:
                raise NotFound(f"no question {question_id!r} in quiz {quiz_id!r}")
            question = questions[0]
        else:
            question = self.question(question_id, principal=principal)
        grade = self.learners.record(learner=principal.learner, departments=principal.departments,
                                     question=question, chosen=list(chosen), quiz_id=quiz_id)
        for observer in self.observers:
            observer(principal=principal, question=question, chosen=list(chosen), correct=grade.correct,
                     quiz_id=quiz_id, at=now())
        return grade

    def question(self, question_id: str, *, principal: Principal) -> Question:
        found = self.readable([self.store.get_question(question_id)], principal=principal)
        if not found:
            raise NotFound(f"no question {question_id!r}")
        return found[0]

    def due(self, *, principal: Principal, limit: int = 20) -> list[Question]:
        """The principal's questions due for review that they may still read."""
        ids = self.learners.due(principal.learner, limit=limit)
        stored = self.store.get_questions(ids)
        return self.readable([stored[i] for i in ids if i in stored], principal=principal)

    def progress(self, *, principal: Principal) -> dict:
        return self.learners.progress(principal.learner) | {"user": principal.user}

    def group(self, department: str | None, *, principal: Principal) -> dict:
        """A trainer's view of one of their departments (an admin's of any, or of everyone)."""
        require_trainer(principal, "a group's statistics")
        if not principal.sees_everything:
            if department is None:
                if not principal.departments:
                    raise NotFound("give a department")
                department = principal.departments[0]
            elif department not in principal.departments:
                from assistant.errors import AccessDenied

                raise AccessDenied("a trainer sees only their own departments")
        view = self.learners.group(department)
        stems = self.store.get_questions(q["question_id"] for q in view["hardest_questions"])
        for item in view["hardest_questions"]:
            item["stem"] = stems[item["question_id"]].stem[:80] if item["question_id"] in stems else ""
        return view

    # -- trainers ---------------------------------------------------------------------------------

    def publish(self, quiz_id: str, *, principal: Principal) -> Quiz:
        require_trainer(principal, "publishing a quiz")
        self.get(quiz_id, principal=principal)
        self.store.publish(quiz_id)
        return self.get(quiz_id, principal=principal)

    def export(self, quiz_id: str, fmt: str, *, principal: Principal) -> bytes:
        from assistant.quiz.export import export

        require_trainer(principal, "exporting a quiz")
        return export(self.get(quiz_id, principal=principal), fmt)
