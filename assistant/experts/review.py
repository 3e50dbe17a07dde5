"""What trainers do with expert answers: publish a reviewed one as material (a document of kind
``qa`` with its own citation label, 检答·第N号, searchable and citable at once), edit or withdraw
it (the document is replaced or removed like any other, through assistant/documents.py), and
watch the pool: each expert's load and each line's median time to answer. Also the votes (赞/踩)
on every answer shown, jianxue's own and the experts'."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import timedelta

from assistant.access import may_read, require_trainer
from assistant.db import aware, now
from assistant.errors import Conflict, InvalidRequest, NotFound
from assistant.experts.pool import ExpertPool, audience, verify_answer
from assistant.experts.store import ANSWERED, CLAIMED, OPEN, PUBLISHED, WITHDRAWN, stamp
from assistant.models import Principal

_MARK = re.compile(r"\[(\d{1,3})\]")
_SINCE = re.compile(r"^(\d+)([dhw])$")


class Review:
    def __init__(self, pool: ExpertPool, *, documents) -> None:
        self.pool = pool
        self.store = pool.store
        self.documents = documents

    def label(self, question_id: int) -> str:
        return f"{self.pool.settings.label_prefix}·第{question_id}号"

    def publish(self, question_id: int, principal: Principal, *, access: list[str] | None = None) -> dict:
        """An answered question as a ``qa`` document, readable where ``access`` says (default: as the
        question was, everyone or the asker's departments)."""
        require_trainer(principal, "publishing expert answers")
        row = self._readable(question_id, principal)
        if row["status"] != ANSWERED:
            raise Conflict(f"question {question_id} is {row['status']}; only an answered question is published")
        departments = [d.strip() for d in (access if access is not None else row["access"]) if d.strip()]
        self._check_audience(row["citations"] or [], departments)
        return self._put(row, principal, row["answer"], row["citations"] or [], departments)

    def edit(self, question_id: int, principal: Principal, text: str) -> dict:
        """A published (or answered) answer rewritten by a trainer: checked against the same passages
        as before, and the published document replaced."""
        require_trainer(principal, "editing expert answers")
        row = self._readable(question_id, principal)
        if row["status"] not in (ANSWERED, PUBLISHED):
            raise Conflict(f"question {question_id} is {row['status']}; there is no answer to edit")
        verified, citations = verify_answer(text, self.pool._passages(row))
        cited = [c.to_dict() for c in citations]
        self.store.set_fields(question_id, answer=verified, citations=cited)
        if row["status"] == ANSWERED:
            return self.pool.view(self.store.question(question_id), principal)
        self._remove(row, principal)
        return self._put(row, principal, verified, cited, list(row["published_access"] or []))

    def withdraw(self, question_id: int, principal: Principal) -> dict:
        """Take a published answer out of the materials everywhere (it stays on record as withdrawn)."""
        require_trainer(principal, "withdrawing expert answers")
        row = self._readable(question_id, principal)
        if row["status"] != PUBLISHED:
            raise Conflict(f"question {question_id} is {row['status']}; only a published answer is withdrawn")
        self._remove(row, principal)
        self.store.set_fields(question_id, status=WITHDRAWN, doc_id=None)
        return self.pool.view(self.store.question(question_id), principal)

    def _check_audience(self, citations: list[dict], departments: list[str]) -> None:
        """A published answer quotes only what its readers may read: for every department it is
        published to (or for anyone, published to all), every cited document."""
        docs = {c["doc_id"] for c in citations}
        readers = [audience((d,)) for d in departments] or [audience(())]
        for reader in readers:
            hidden = docs - self.pool._readable(docs, principal=reader)
            if hidden:
                who = "、".join(reader.departments) or "everyone"
                raise InvalidRequest(f"the answer quotes material {who} may not read ({', '.join(sorted(hidden))}); "
                                     "publish it to the departments that may read it")

    def _put(self, row: dict, principal: Principal, answer: str, citations: list[dict], access: list[str]) -> dict:
        label = self.label(row["id"])
        document = qa_markdown(row, answer, citations, label=label, access=access)
        uploaded = self.documents.upload(document.encode("utf-8"), f"{label}.md", principal=principal, kind="qa",
                                         line=row["line"], wait_s=30)
        self.store.set_fields(row["id"], status=PUBLISHED, doc_id=uploaded.doc_id, label=label,
                              published_by=principal.user, published_at=now(), published_access=access)
        return self.pool.view(self.store.question(row["id"]), principal)

    def _remove(self, row: dict, principal: Principal) -> None:
        if row["doc_id"]:
            try:
                self.documents.remove(row["doc_id"], principal=principal, wait_s=30)
            except NotFound:
                pass  # already gone (removed as a document): nothing left to take out

    def _readable(self, question_id: int, principal: Principal) -> dict:
        row = self.store.question(question_id)
        if not may_read(principal, row["access"]):
            raise NotFound(f"no question {question_id}")
        return row

    # -- the pool at a glance ---------------------------------------------------------------------------

    def stats(self, principal: Principal) -> dict:
        """Each expert's load (claimed now, answered) and each line's open questions and median hours
        from asking to answer, over the questions this trainer may read."""
        require_trainer(principal, "the expert pool's figures")
        rows = [r for r in self.store.questions() if may_read(principal, r["access"])]
        load: dict[str, Counter] = defaultdict(Counter)
        for e in self.store.experts():
            load[e["user"]]  # noqa: B018 - every expert appears, idle ones too
        hours: dict[str, list[float]] = defaultdict(list)
        lines: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            lines[r["line"]][r["status"]] += 1
            if r["status"] == CLAIMED and r["claimed_by"]:
                load[r["claimed_by"]]["claimed"] += 1
            if r["answered_at"] is not None:
                load[r["answered_by"]]["answered"] += 1
                hours[r["line"]].append((aware(r["answered_at"]) - aware(r["created_at"])).total_seconds() / 3600)
        oldest = min((aware(r["created_at"]) for r in rows if r["status"] == OPEN), default=None)
        return {
            "experts": [{"user": u, "claimed": c["claimed"], "answered": c["answered"]}
                        for u, c in sorted(load.items())],
            "lines": [{"line": line, "open": c[OPEN], "claimed": c[CLAIMED], "answered": c[ANSWERED],
                       "published": c[PUBLISHED], "median_hours_to_answer":
                           round(statistics.median(hours[line]), 3) if hours[line] else None}
                      for line, c in sorted(lines.items())],
            "oldest_open": stamp(oldest),
        }

    # -- feedback -------------------------------------------------------------------------------------

    def shown(self, principal: Principal, *, channel: str, question: str, answer: str, citations: list[dict],
              mode: str, question_id: int | None = None) -> int:
        """Record an answer shown with 赞/踩 buttons; the id the buttons carry."""
        return self.store.shown(user=principal.learner, channel=channel, question=question[:4000],
                                answer=answer[:20000], citations=citations, mode=mode, question_id=question_id)

    def vote(self, principal: Principal, *, vote: int, feedback_id: int | None = None, question: str = "",
             answer: str = "", citations: list[dict] | None = None, comment: str | None = None,
             channel: str = "http", mode: str = "extractive") -> dict:
        """赞 (+1) or 踩 (-1) on an answer, with an optional comment: on one shown earlier
        (``feedback_id``, the voter's own), or on one given here."""
        if vote not in (1, -1):
            raise InvalidRequest("vote is 1 (赞) or -1 (踩)")
        comment = (comment or "").strip()[:2000] or None
        if feedback_id is None:
            if not question.strip() or not answer.strip():
                raise InvalidRequest("feedback needs the question and the answer it is about")
            feedback_id = self.shown(principal, channel=channel, question=question, answer=answer,
                                     citations=citations or [], mode=mode)
        if not self.store.vote(feedback_id, principal.learner, vote, comment):
            raise NotFound(f"no answer {feedback_id} of yours to vote on")
        return {"id": feedback_id, "vote": vote, "comment": comment}

    def comment(self, principal: Principal, *, channel: str, text: str) -> str | None:
        """A comment typed after a vote or an escalation in a chat: it goes with the latest of the
        two by this member in this channel. Which it went to ('vote', 'question'), or None."""
        text = (text or "").strip()[:2000]
        if not text:
            raise InvalidRequest("the comment is empty")
        vote = self.store.last_vote(principal.learner, channel)
        question = self.store.last_question(principal.learner, channel)
        if question is not None and (vote is None or aware(question["created_at"]) >= aware(vote["voted_at"])):
            self.store.set_fields(question["id"], comment=text)
            return "question"
        if vote is not None:
            self.store.comment_on_vote(vote["id"], text)
            return "vote"
        return None

    def feedback(self, principal: Principal, *, since: str = "7d") -> dict:
        """Votes since a time ago (7d, 24h, 2w): counts by mode and every 踩 with its comment."""
        require_trainer(principal, "feedback figures")
        rows = self.store.votes(now() - parse_since(since))
        by_mode: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            by_mode[r["mode"]]["up" if r["vote"] > 0 else "down"] += 1
        return {
            "since": since, "votes": len(rows), "up": sum(1 for r in rows if r["vote"] > 0),
            "down": sum(1 for r in rows if r["vote"] < 0),
            "by_mode": {m: {"up": c["up"], "down": c["down"]} for m, c in sorted(by_mode.items())},
            "items": [{"id": r["id"], "vote": r["vote"], "comment": r["comment"], "question": r["question"],
                       "answer": r["answer"], "citations": [c.get("label") for c in r["citations"]],
                       "mode": r["mode"], "channel": r["channel"], "question_id": r["question_id"],
                       "at": stamp(r["voted_at"])} for r in rows],
        }


def parse_since(value: str) -> timedelta:
    m = _SINCE.match((value or "").strip())
    if not m:
        raise InvalidRequest("since is a number and d, h or w: 7d, 24h, 2w")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(days=n) if unit == "d" else timedelta(hours=n) if unit == "h" else timedelta(weeks=n)


def qa_markdown(row: dict, answer: str, citations: list[dict], *, label: str, access: list[str]) -> str:
    """The published document: front matter (kind qa, line, access, its label) and 问/答, the
    answer's [n] written out as the labels they stand for."""
    labels = {c["n"]: c["label"] for c in citations}
    body = _MARK.sub(lambda m: f"（{labels.get(int(m.group(1)), '')}）" if int(m.group(1)) in labels else "", answer)
    title = row["text"].replace("\n", " ")[:80]
    quoted = ", ".join(_yaml(d) for d in access)
    sources = "；".join(dict.fromkeys(labels.values()))
    return (f"---\ntitle: {_yaml(title)}\nkind: qa\nline: {row['line']}\naccess: [{quoted}]\n"
            f"case_no: {_yaml(label)}\ntags: [专家解答]\ndate: {now().date().isoformat()}\n---\n"
            f"问：{row['text'].strip()}\n\n答：{body.strip()}\n" + (f"\n依据：{sources}\n" if sources else ""))


def _yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
