"""The expert pool as its users meet it: an asker escalates what the materials could not answer
(or an answer they were not satisfied with), experts of the question's line see it, one claims
it, answers it from passages retrieved for them, and the answer is checked like a model's
before the asker gets it. Who may see which question is decided here, from the caller's
Principal, with assistant/access.py's rule: a question restricted to the asker's departments
is seen only by experts of those departments (and admins).

The asker's name is shown to experts only if the asker allowed it; by default an expert sees
the asker's departments. A question very close to an open or answered one of the same line
(character bigrams) is linked to it rather than queued twice; if that one is answered, the
asker gets the answer at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from assistant.access import is_trainer, may_read
from assistant.config import ExpertSettings
from assistant.db import aware, now
from assistant.errors import AccessDenied, Conflict, InvalidRequest, NotFound, UnverifiedAnswer
from assistant.experts.store import ANSWERED, CLAIMED, LINKED, OPEN, PUBLISHED, STATUSES, ExpertStore, stamp
from assistant.ingest.legal import infer_line
from assistant.models import Chunk, Citation, Line, Principal
from assistant.verify import Verifier

MESSENGERS = ("telegram", "wecom", "dingtalk", "feishu")
CLAIM, VOTE_UP, VOTE_DOWN = "xq:claim:", "fb:up:", "fb:down:"  # button actions of the messenger extension
_NOT_TEXT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Asked:
    """Where an escalation came from and how to reach the asker there."""

    channel: str = "cli"
    chat_id: str | None = None
    platform_id: str | None = None


def similarity(a: str, b: str, terms: Callable[[str], set[str]] | None = None) -> float:
    """How close two questions are, 0..1: the Dice coefficient of their content words (``terms``:
    the legal tokenizer's words of two characters or more, question words left out), else of their
    character bigrams (punctuation and spaces ignored)."""
    sets = [terms(a), terms(b)] if terms is not None else [set(), set()]
    if not (sets[0] and sets[1]):
        sets = []
        for text in (a, b):
            t = _NOT_TEXT.sub("", text)
            sets.append({t[i:i + 2] for i in range(max(len(t) - 1, 1))} if t else set())
    total = len(sets[0]) + len(sets[1])
    return 2 * len(sets[0] & sets[1]) / total if total else 0.0


class ExpertPool:
    def __init__(self, *, store: ExpertStore, settings: ExpertSettings, search: Callable[..., list],
                 chunks: Callable[[Sequence[str]], dict[str, Chunk]], readable: Callable[..., set[str]],
                 members: Callable[[], list[dict]], passages: int = 12,
                 terms: Callable[[str], set[str]] | None = None) -> None:
        self.store = store
        self.settings = settings
        self._search = search
        self._chunks = chunks
        self._readable = readable
        self._members = members
        self.passages = passages
        self._terms = terms

    # -- the pool -----------------------------------------------------------------------------------

    def add_expert(self, user: str, lines: Sequence[str], departments: Sequence[str] = ()) -> dict:
        user = user.strip()
        if not user:
            raise InvalidRequest("an expert needs a user name")
        lines = list(dict.fromkeys(_line(x) for x in lines))
        if not lines:
            raise InvalidRequest("an expert answers for at least one line (--line criminal …)")
        self.store.add_expert(user, lines, [d.strip() for d in departments if d.strip()])
        return {"user": user, "lines": lines, "departments": [d.strip() for d in departments if d.strip()]}

    def remove_expert(self, user: str) -> None:
        self.store.remove_expert(user)

    def experts(self) -> list[dict]:
        return [{"user": e["user"], "lines": e["lines"], "departments": e["departments"]} for e in self.store.experts()]

    def expert_principal(self, user: str) -> Principal:
        """An expert as the command line acts for them: their user name and departments."""
        expert = self.store.expert(user)
        if expert is None:
            raise NotFound(f"{user!r} is not in the expert pool: jianxue experts add --user {user} --line …")
        return Principal(user=user, role="learner", departments=tuple(expert["departments"]))

    def lines_of(self, principal: Principal) -> tuple[str, ...]:
        expert = self.store.expert(principal.user)
        return tuple(expert["lines"]) if expert is not None else ()

    # -- escalation ---------------------------------------------------------------------------------

    def escalate(self, text: str, *, principal: Principal, line: str | None, history: Sequence[str] = (),
                 found: dict | None = None, reason: str = "declined", comment: str | None = None,
                 show_identity: bool = False, restricted: bool = False, asked: Asked = Asked()) -> dict:
        """Put a question to the experts of its line; returns its view for the asker (with the
        answer at once when it is linked to one already answered)."""
        text = (text or "").strip()
        if not text:
            raise InvalidRequest("the question is empty")
        if len(text) > 2000:
            raise InvalidRequest("a question is at most 2000 characters")
        line = _line(line) if line else infer_line(text).value  # the asker's line, else the question's
        if reason not in ("declined", "unsatisfied"):
            raise InvalidRequest("reason is declined or unsatisfied")
        departments = [d for d in principal.departments if d]
        if restricted and not departments:
            raise InvalidRequest("a question can be restricted only to the asker's departments, and there are none")
        found = found or {}
        values = dict(text=text, line=line, reason=reason, comment=(comment or "").strip() or None,
                      history=[str(h) for h in history][-10:],
                      found={"text": str(found.get("text", "")), "citations": list(found.get("citations", ()))},
                      asker=principal.learner, asker_user=principal.user, asker_departments=departments,
                      show_identity=bool(show_identity), access=departments if restricted else [],
                      channel=asked.channel, chat_id=asked.chat_id, platform_id=asked.platform_id)
        same = self._duplicate(text, line, principal)
        if same is not None:
            question_id = self.store.add_question(status=LINKED, linked_to=same["id"], **values)
            return self.view(self.store.question(question_id), principal)
        question_id = self.store.add_question(status=OPEN, **values)
        row = self.store.question(question_id)
        self._tell_experts(row, f"新问题待解答（#{question_id}，{_line_name(line)}）：{text}")
        return self.view(row, principal)

    def _duplicate(self, text: str, line: str, asker: Principal) -> dict | None:
        best, score = None, 0.0
        for row in self.store.questions(statuses=(OPEN, CLAIMED, ANSWERED, PUBLISHED), lines=(line,)):
            if not may_read(asker, row["access"]):
                continue  # never link to (and so show) a question restricted to departments the asker is not in
            s = similarity(text, row["text"], self._terms)
            if s > score:
                best, score = row, s
        return best if best is not None and score >= self.settings.duplicate_similarity else None

    # -- what a caller may see ------------------------------------------------------------------------

    def may_see(self, row: dict, principal: Principal) -> bool:
        if row["asker"] == principal.learner:
            return True
        if not may_read(principal, row["access"]):
            return False
        return is_trainer(principal) or row["line"] in self.lines_of(principal)

    def get(self, question_id: int, principal: Principal) -> dict:
        row = self.store.question(question_id)
        if not self.may_see(row, principal):
            raise NotFound(f"no question {question_id}")
        return self.view(row, principal)

    def list(self, principal: Principal, *, status: str | None = None, mine: bool = False) -> list[dict]:
        """Questions the caller may see: their own (``mine``), else those of their lines (an expert)
        or of every line (a trainer), restricted ones only where their departments allow."""
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status is one of {', '.join(STATUSES)}")
        statuses = (status,) if status else ()
        if mine:
            rows = self.store.questions(statuses=statuses, asker=principal.learner)
        else:
            lines = None if is_trainer(principal) else self.lines_of(principal)
            if lines == ():
                raise AccessDenied("the queue is for experts (jianxue experts add) and trainers")
            rows = [r for r in self.store.questions(statuses=statuses, lines=lines) if may_read(principal, r["access"])]
        return [self.view(r, principal) for r in rows]

    def view(self, row: dict, principal: Principal) -> dict:
        """A question as this caller may see it: the asker's identity only as the asker allowed,
        jianxue's earlier sources only those the caller may read, the answer of the question it is
        linked to when that one is answered."""
        own = row["asker"] == principal.learner
        departments = "、".join(row["asker_departments"]) or "未分部门"
        asker = row["asker_user"] if own or row["show_identity"] else None
        cited = row["found"].get("citations") or []
        readable = self._readable({c.get("doc_id", "") for c in cited}, principal=principal) if cited else set()
        whole = own or all(c.get("doc_id") in readable for c in cited)  # the text quotes every source
        out = {
            "id": row["id"], "text": row["text"], "line": row["line"], "status": row["status"],
            "reason": row["reason"], "comment": row["comment"], "history": row["history"],
            "asker": asker, "asker_departments": departments, "restricted": bool(row["access"]),
            "found": {"text": row["found"].get("text", "") if whole else "",
                      "citations": [c for c in cited if c.get("doc_id") in readable]},
            "claimed_by": row["claimed_by"], "answer": row["answer"], "citations": row["citations"] or [],
            "answered_by": row["answered_by"], "label": row["label"], "doc_id": row["doc_id"],
            "linked_to": row["linked_to"], "created_at": stamp(row["created_at"]),
            "answered_at": stamp(row["answered_at"]), "published_at": stamp(row["published_at"]),
        }
        if row["claimed_by"] == principal.user and row["status"] == CLAIMED:
            out["draft"] = row["draft"]
        if row["linked_to"] is not None:
            original = self.store.question(row["linked_to"])
            if original["status"] in (ANSWERED, PUBLISHED) and may_read(principal, original["access"]):
                out.update(answer=original["answer"], citations=original["citations"] or [],
                           answered_by=original["answered_by"], label=original["label"])
        return out

    # -- claiming and answering -----------------------------------------------------------------------

    def claim(self, question_id: int, principal: Principal) -> dict:
        """Take an open question of one's line; Conflict when another expert was first. The passages
        retrieved for the expert now are the ones the answer's [n] refer to."""
        row = self._as_expert(question_id, principal)
        if row["status"] != OPEN:
            raise Conflict(f"question {question_id} is {row['status']}" +
                           (f" (claimed by {row['claimed_by']})" if row["claimed_by"] else ""))
        chunk_ids = self._retrieve(row, principal)
        if not self.store.claim(question_id, principal.user, chunk_ids):
            raise Conflict(f"question {question_id} was claimed by another expert just now")
        return self.work(question_id, principal)

    def work(self, question_id: int, principal: Principal) -> dict:
        """A claimed question with its numbered passages, for the expert who claimed it."""
        row = self._as_expert(question_id, principal)
        if row["claimed_by"] != principal.user:
            raise Conflict(f"question {question_id} is not claimed by you")
        passages = self._passages(row)
        return self.view(row, principal) | {"passages": [
            {"n": i, "label": c.citation, "doc_id": c.doc_id, "kind": c.kind.value, "text": c.text}
            for i, c in enumerate(passages, 1)]}

    def save_draft(self, question_id: int, principal: Principal, text: str) -> dict:
        if not self.store.save_draft(question_id, principal.user, text or ""):
            raise Conflict(f"question {question_id} is not claimed by you")
        return {"id": question_id, "saved": True}

    def answer(self, question_id: int, principal: Principal, text: str) -> dict:
        """Check and send an expert's answer: every [n] names one of the passages retrieved for the
        expert, every quoted span stands verbatim in its passage, every article or case number
        occurs in a passage, and at least one passage is cited. Anything else is UnverifiedAnswer
        (the draft is kept; fix and send again). The asker, and whoever asked the same, is told."""
        row = self._as_expert(question_id, principal)
        if row["claimed_by"] != principal.user or row["status"] not in (CLAIMED, ANSWERED):
            raise Conflict(f"question {question_id} is not claimed by you")
        text = (text or "").strip()
        if not text:
            raise InvalidRequest("the answer is empty")
        self.store.save_draft(question_id, principal.user, text)
        verified, citations = verify_answer(text, self._passages(row))
        if not self.store.answered(question_id, principal.user, verified, [c.to_dict() for c in citations]):
            raise Conflict(f"question {question_id} is not claimed by you")
        row = self.store.question(question_id)
        self._tell_askers(row, f"专家已解答您的问题（#{question_id}）：{row['text']}\n\n{_with_sources(row)}")
        return self.view(row, principal)

    def release(self, question_id: int, principal: Principal, *, to: str | None = None) -> dict:
        """Give a claimed question back to the queue (its claimer, or a trainer reassigning it);
        ``to`` (trainers) claims it at once for that expert."""
        row = self.store.question(question_id)
        if not self.may_see(row, principal):
            raise NotFound(f"no question {question_id}")
        mine = row["claimed_by"] == principal.user
        if not mine and not is_trainer(principal):
            raise AccessDenied("only the expert who claimed it or a trainer can give a question back")
        if to is not None and not is_trainer(principal):
            raise AccessDenied("reassigning to another expert needs a trainer")
        if row["status"] not in (OPEN, CLAIMED):
            raise Conflict(f"question {question_id} is {row['status']}; only an open or claimed one is given back")
        if row["status"] == CLAIMED and not self.store.release(question_id):
            raise Conflict(f"question {question_id} changed just now; look again")
        if to is None:
            row = self.store.question(question_id)
            self._tell_experts(row, f"问题重新待解答（#{question_id}）：{row['text']}")
            return self.view(row, principal)
        return self.claim(question_id, self.expert_principal(to))

    def reminders(self) -> list[int]:
        """Open questions nobody has claimed for remind_after_hours: told to their line's experts
        again (each at most once per that time). Returns their ids."""
        hours = self.settings.remind_after_hours
        if not hours:
            return []
        cutoff = now() - timedelta(hours=hours)
        due = [r for r in self.store.questions(statuses=(OPEN,))
               if aware(r["created_at"]) <= cutoff and (r["reminded_at"] is None or aware(r["reminded_at"]) <= cutoff)]
        for row in due:
            self._tell_experts(row, f"提醒：问题 #{row['id']} 已等待超过 {hours:g} 小时，尚无人认领：{row['text']}")
        self.store.reminded([r["id"] for r in due])
        return [r["id"] for r in due]

    # -- helpers ------------------------------------------------------------------------------------

    def _as_expert(self, question_id: int, principal: Principal) -> dict:
        row = self.store.question(question_id)
        if not may_read(principal, row["access"]) or row["line"] not in self.lines_of(principal):
            if self.may_see(row, principal):
                raise AccessDenied(f"only experts of the {row['line']} line answer question {question_id}")
            raise NotFound(f"no question {question_id}")
        return row

    def _retrieve(self, row: dict, principal: Principal) -> list[str]:
        """What jianxue found for the asker, then a search as the expert: passages the expert may
        read and everyone the answer goes to may read too (the asker, and whoever the question is
        open to), so that an answer never quotes an expert's department's material to others."""
        cited = [c["chunk_id"] for c in row["found"].get("citations") or [] if c.get("chunk_id")]
        candidates = cited + [h.chunk.chunk_id for h in self._search(row["text"], principal=principal,
                                                                     k=self.passages * 2)]
        known = self._chunks(candidates)
        docs = {c.doc_id for c in known.values()}
        allowed = self._readable(docs, principal=principal) & self._readable(docs, principal=audience(row["access"]))
        ids = [i for i in dict.fromkeys(candidates) if i in known and known[i].doc_id in allowed]
        return ids[: self.passages]

    def _passages(self, row: dict) -> list[Chunk]:
        found = self._chunks(row["passages"] or [])
        return [found[i] for i in row["passages"] or [] if i in found]

    def _tell_experts(self, row: dict, text: str) -> None:
        experts = {e["user"]: e for e in self.store.experts() if row["line"] in e["lines"]}
        for member in self._members():
            expert = experts.get(member["user"])
            if expert is None or member["channel"] not in MESSENGERS:
                continue
            seen_as = Principal(user=member["user"], role=member["role"], departments=tuple(member["departments"]),
                                sees_everything=member["role"] == "admin")
            if may_read(seen_as, row["access"]):
                self.store.notify(member["channel"], member["platform_id"], member["platform_id"], text,
                                  buttons=[("认领", f"{CLAIM}{row['id']}")], key=f"expert-q{row['id']}")

    def _tell_askers(self, row: dict, text: str) -> None:
        """The asker, and whoever asked the same, in the chat they asked from, with 赞/踩 under the
        expert's answer like under any other."""
        for asked in [row, *self.store.questions(linked_to=row["id"])]:
            if asked["channel"] in MESSENGERS and asked["chat_id"]:
                shown = self.store.shown(user=asked["asker"], channel=asked["channel"], question=asked["text"],
                                         answer=row["answer"], citations=row["citations"] or [], mode="expert",
                                         question_id=row["id"])
                self.store.notify(asked["channel"], asked["platform_id"] or asked["chat_id"], asked["chat_id"], text,
                                  buttons=[("赞", f"{VOTE_UP}{shown}"), ("踩", f"{VOTE_DOWN}{shown}")],
                                  key=f"expert-a{row['id']}")


def audience(access: Sequence[str]) -> Principal:
    """Who an answer is for: the departments a restricted question is open to, or anyone at all
    (no department) for an open one."""
    return Principal(user="audience", role="learner", departments=tuple(access))


def verify_answer(text: str, passages: Sequence[Chunk]) -> tuple[str, list[Citation]]:
    """An expert's answer checked against the passages retrieved for them (assistant/verify.py):
    the text with its [n] renumbered in order of use, and its citations; UnverifiedAnswer with
    every problem otherwise."""
    from assistant.answer import _complete_sentences

    verifier = Verifier(passages)
    done, rest = _complete_sentences(text.strip() + "\n")
    for sentence in [*done, rest]:
        verifier.sentence(sentence)
    result = verifier.result()
    problems = list(result.problems)
    if not result.citations and not problems:
        problems.append("the answer cites no passage: mark each claim with the [n] of its passage")
    if problems:
        raise UnverifiedAnswer("the answer cannot be sent as it is: " + "; ".join(problems), problems)
    citations = []
    for n, index in enumerate(result.citations, 1):
        chunk = passages[index]
        citations.append(Citation(n=n, label=chunk.citation, source_id=chunk.source_id, chunk_id=chunk.chunk_id,
                                  doc_id=chunk.doc_id, kind=chunk.kind.value, title=chunk.title,
                                  quote=result.quotes.get(index) or chunk.text[:80], passage=chunk.text))
    return result.text, citations


def _with_sources(row: dict) -> str:
    sources = "\n".join(f"[{c['n']}] {c['label']}" for c in row["citations"] or [])
    return f"{row['answer']}\n来源：\n{sources}" if sources else row["answer"]


def _line(value: str) -> str:
    try:
        return Line(str(value).strip()).value
    except ValueError:
        raise InvalidRequest(f"line must be one of {', '.join(x.value for x in Line)}") from None


def _line_name(line: str) -> str:
    from assistant.conversation.texts import LINES

    return LINES.get(line, line)
