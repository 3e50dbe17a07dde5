"""The expert pool in the core: the real Assistant (Chroma, SQLite) over the demo corpus and the
two restricted cases, as an asker, experts of two departments and a trainer use it."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.conversation.store import ConversationStore
from assistant.db import now
from assistant.errors import AccessDenied, Conflict, InvalidRequest, NotFound, UnverifiedAnswer
from assistant.experts.pool import similarity
from assistant.experts.store import ExpertStore, questions
from assistant.index.embedders import HashEmbedder
from assistant.models import Principal
from assistant.service import build_assistant
from tests.conftest import CORPUS, ingested_copy, marker, write_restricted_cases
from tests.experts.common import citable, good_answer

DECLINED = "洗钱罪中自洗钱行为如何认定"  # nothing in the demo corpus answers it
ASKER = Principal(user="alice", role="learner", departments=("刑事检察部",))
CIVIL_ASKER = Principal(user="carol", role="learner", departments=("民事检察部",))
TRAINER = Principal(user="tina", role="trainer", departments=("刑事检察部",))


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("experts")
    shutil.copytree(CORPUS, root / "corpus")
    write_restricted_cases(root / "corpus")
    return root


@pytest.fixture
def data_dir(corpus_dir, tmp_path) -> Path:
    return ingested_copy(corpus_dir / "corpus", template=corpus_dir / "template", target=tmp_path / "data")


def make(data_dir: Path, **experts):
    settings = load_settings(data_dir=data_dir, embedder={"name": "hash-64"}, experts=experts or {})
    return build_assistant(settings, embedder=HashEmbedder(64))


@pytest.fixture
def assistant(data_dir):
    a = make(data_dir)
    a.experts.add_expert("wang", ["criminal"], ["刑事检察部"])  # criminal line, criminal department
    a.experts.add_expert("zhao", ["criminal"], ["民事检察部"])  # criminal line, another department
    a.experts.add_expert("li", ["civil"], ["刑事检察部"])  # another line
    return a


def expert(a, user: str) -> Principal:
    return a.experts.expert_principal(user)


def test_a_declined_question_reaches_its_lines_experts_and_comes_back_as_cited_material(assistant):
    a = assistant
    declined = a.ask(DECLINED, principal=ASKER)
    assert declined.refused
    asked = a.experts.escalate(DECLINED, principal=ASKER, line="criminal", history=["正当防卫的限度"],
                               found={"text": declined.text, "citations": []})
    qid = asked["id"]
    assert asked["status"] == "open" and asked["asker"] == "alice"  # the asker sees themselves
    queue = a.experts.list(expert(a, "wang"), status="open")
    assert [q["id"] for q in queue] == [qid]
    assert queue[0]["asker"] is None and queue[0]["asker_departments"] == "刑事检察部"  # department only
    assert queue[0]["history"] == ["正当防卫的限度"] and "资料中未找到" in queue[0]["found"]["text"]
    assert a.experts.list(expert(a, "li"), status="open") == []  # another line's expert
    with pytest.raises(AccessDenied):
        a.experts.list(ASKER)  # not an expert, not a trainer
    with pytest.raises(NotFound):  # another line's question is not there for them
        a.experts.claim(qid, expert(a, "li"))

    work = a.experts.claim(qid, expert(a, "wang"))
    with pytest.raises(Conflict):
        a.experts.claim(qid, expert(a, "zhao"))
    n, _, label = citable(work["passages"])
    with pytest.raises(UnverifiedAnswer) as bad:
        a.experts.answer(qid, expert(a, "wang"), f"应当审查“洗钱罪的七种法定情形”[{n}]。")
    assert "not found verbatim" in bad.value.problems[0]
    with pytest.raises(UnverifiedAnswer) as bad:
        a.experts.answer(qid, expert(a, "wang"), "上游犯罪人本人洗钱的，依照刑法第一百九十一条论处[99]。")
    assert any("[99]" in p for p in bad.value.problems) or any("第191条" in p for p in bad.value.problems)
    assert a.experts.work(qid, expert(a, "wang"))["draft"].startswith("上游犯罪人本人")  # kept to fix
    answered = a.experts.answer(qid, expert(a, "wang"), good_answer(work["passages"]))
    assert answered["status"] == "answered" and answered["answer"].endswith("[1]。")
    assert [c["label"] for c in answered["citations"]] == [label]
    assert a.experts.get(qid, ASKER)["answer"] == answered["answer"]  # the asker sees it

    published = a.review.publish(qid, TRAINER)
    assert published["status"] == "published" and published["label"] == "检答·第1号"
    hits = a.search(DECLINED, principal=CIVIL_ASKER, k=3)
    assert hits[0].chunk.kind.value == "qa" and hits[0].chunk.citation == "检答·第1号"
    again = a.ask(DECLINED, principal=CIVIL_ASKER)
    assert not again.refused and again.citations[0].label == "检答·第1号" and "自洗钱" in again.text
    assert "问：" not in again.text  # the answer is quoted, not the question

    edited = a.review.edit(qid, TRAINER, good_answer(work["passages"], more=False))
    assert edited["doc_id"] != published["doc_id"] and edited["label"] == "检答·第1号"
    texts = [h.chunk.text for h in a.search(DECLINED, principal=ASKER, k=5) if h.chunk.kind.value == "qa"]
    assert len(texts) == 1 and "数罪并罚" not in texts[0]
    assert {d["doc_id"] for d in a.documents.visible(ASKER)} >= {edited["doc_id"]}
    a.review.withdraw(qid, TRAINER)
    assert not [h for h in a.search(DECLINED, principal=ASKER, k=12) if h.chunk.kind.value == "qa"]
    assert a.ask(DECLINED, principal=ASKER).refused


def test_restricted_questions_and_answers_stay_in_their_department(assistant):
    a = assistant
    asked = a.experts.escalate(DECLINED, principal=ASKER, line="criminal", restricted=True, show_identity=True)
    qid = asked["id"]
    zhao, wang = expert(a, "zhao"), expert(a, "wang")
    assert a.experts.list(zhao, status="open") == []
    for call in (lambda: a.experts.get(qid, zhao), lambda: a.experts.claim(qid, zhao)):
        with pytest.raises(NotFound):
            call()
    seen = a.experts.list(wang, status="open")
    assert [q["id"] for q in seen] == [qid] and seen[0]["asker"] == "alice"  # the asker allowed their name
    # a question close to it, from another department, is not linked to it (that would show its answer)
    other = a.experts.escalate(DECLINED + "？", principal=CIVIL_ASKER, line="criminal")
    assert other["linked_to"] is None and other["status"] == "open"

    work = a.experts.claim(qid, wang)
    a.experts.answer(qid, wang, good_answer(work["passages"]))
    a.review.publish(qid, TRAINER)  # as the question was: 刑事检察部 only
    civil = [h for h in a.search(DECLINED, principal=CIVIL_ASKER, k=12) if h.chunk.kind.value == "qa"]
    assert civil == []
    assert "检答" not in json.dumps(a.ask(DECLINED, principal=CIVIL_ASKER).to_dict(), ensure_ascii=False)
    assert [h.chunk.citation for h in a.search(DECLINED, principal=ASKER, k=3)][0] == "检答·第1号"
    with pytest.raises(NotFound):
        a.experts.get(qid, CIVIL_ASKER)


def test_what_jianxue_found_for_the_asker_is_shown_only_as_far_as_the_expert_may_read_it(assistant):
    a = assistant
    question = "正当防卫案件审查逮捕时应当重点审查防卫限度"
    found = a.ask(question, principal=ASKER)
    assert marker("刑事检察部") in json.dumps(found.to_dict(), ensure_ascii=False)
    asked = a.experts.escalate(question, principal=ASKER, line="criminal", reason="unsatisfied", comment="太笼统",
                               found={"text": found.text, "citations": [c.to_dict() for c in found.citations]})
    view = a.experts.get(asked["id"], expert(a, "zhao"))  # an expert of 民事检察部: not the restricted case
    assert view["comment"] == "太笼统" and view["reason"] == "unsatisfied"
    assert marker("刑事检察部") not in json.dumps(view, ensure_ascii=False)
    work = a.experts.claim(asked["id"], expert(a, "zhao"))
    assert marker("刑事检察部") not in json.dumps(work, ensure_ascii=False)
    assert marker("刑事检察部") in json.dumps(a.experts.get(asked["id"], expert(a, "wang")), ensure_ascii=False)


def test_a_question_close_to_an_answered_one_gets_its_answer_at_once(assistant):
    a = assistant
    first = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")
    wang = expert(a, "wang")
    work = a.experts.claim(first["id"], wang)
    a.experts.answer(first["id"], wang, good_answer(work["passages"]))
    again = a.experts.escalate("洗钱罪中的自洗钱行为应如何认定？", principal=CIVIL_ASKER, line="criminal")
    assert again["status"] == "linked" and again["linked_to"] == first["id"]
    assert again["answer"] and again["answer"] == a.experts.get(first["id"], wang)["answer"]
    assert [q["id"] for q in a.experts.list(wang, status="open")] == []  # nothing queued twice
    terms = a.question_terms
    assert similarity(DECLINED, "洗钱罪中的自洗钱行为应如何认定？", terms) >= 0.75
    assert similarity("正当防卫的限度怎么认定", "防卫过当的限度怎么认定", terms) < 0.75
    assert similarity(DECLINED, "正当防卫的限度怎么认定") < 0.2


def test_bad_escalations_are_refused_with_a_reason(assistant):
    for kwargs in ({"line": "nonsense"}, {"line": "criminal", "reason": "bored"}):
        with pytest.raises(InvalidRequest):
            assistant.experts.escalate(DECLINED, principal=ASKER, **kwargs)
    with pytest.raises(InvalidRequest):
        assistant.experts.escalate("  ", principal=ASKER, line="criminal")
    with pytest.raises(InvalidRequest):  # restricted to departments the asker has none of
        assistant.experts.escalate(DECLINED, principal=Principal(user="x", role="learner"), line="criminal",
                                   restricted=True)
    with pytest.raises(InvalidRequest):
        assistant.experts.add_expert("nobody", [])


def test_drafts_and_claims_survive_a_restart_and_questions_can_be_reassigned(assistant, data_dir):
    a = assistant
    qid = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")["id"]
    wang = expert(a, "wang")
    a.experts.claim(qid, wang)
    a.experts.save_draft(qid, wang, "初稿：自洗钱")
    restarted = make(data_dir)
    assert restarted.experts.work(qid, wang)["draft"] == "初稿：自洗钱"
    with pytest.raises(AccessDenied):
        restarted.experts.release(qid, expert(restarted, "zhao"), to="zhao")
    moved = restarted.experts.release(qid, TRAINER, to="zhao")
    assert moved["claimed_by"] == "zhao" and moved["passages"]
    with pytest.raises(Conflict):
        restarted.experts.save_draft(qid, wang, "不再是我的")
    zhao = expert(restarted, "zhao")
    work = restarted.experts.work(qid, zhao)
    restarted.experts.answer(qid, zhao, good_answer(work["passages"]))
    with pytest.raises(Conflict):  # an answered question is not put back in the queue
        restarted.experts.release(qid, TRAINER)


def test_unclaimed_questions_are_reminded_to_the_experts_in_their_messenger(data_dir):
    a = make(data_dir, remind_after_hours=1)
    a.experts.add_expert("wang", ["criminal"], ["刑事检察部"])
    ConversationStore(a.docstore.engine).allow("telegram", "501", role="learner", departments=("刑事检察部",),
                                             user="wang")
    qid = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")["id"]
    store = ExpertStore(a.docstore.engine)
    first = store.take_notices("telegram")
    assert [(n["platform_id"], n["buttons"]) for n in first] == [("501", [["认领", f"xq:claim:{qid}"]])]
    assert a.experts.reminders() == []  # not yet an hour
    with a.docstore.engine.begin() as conn:
        conn.execute(questions.update().values(created_at=now() - timedelta(hours=2)))
    assert a.experts.reminders() == [qid]
    assert a.experts.reminders() == []  # once per hour
    assert "提醒" in store.take_notices("telegram")[0]["text"] and store.take_notices("telegram") == []


def test_trainers_see_each_experts_load_and_each_lines_median_time(assistant):
    a = assistant
    wang = expert(a, "wang")
    done = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")["id"]
    work = a.experts.claim(done, wang)
    a.experts.answer(done, wang, good_answer(work["passages"]))
    held = a.experts.escalate("海关走私普通货物偷逃税额的计核方法", principal=ASKER, line="criminal")["id"]
    a.experts.claim(held, expert(a, "zhao"))
    a.experts.escalate("虚拟货币挖矿合同纠纷中矿机托管费用如何认定", principal=ASKER, line="civil")
    stats = a.review.stats(TRAINER)
    load = {e["user"]: e for e in stats["experts"]}
    assert (load["wang"]["answered"], load["zhao"]["claimed"], load["li"]["claimed"]) == (1, 1, 0)
    lines = {x["line"]: x for x in stats["lines"]}
    assert lines["criminal"]["median_hours_to_answer"] is not None and lines["civil"]["open"] == 1
    assert lines["civil"]["median_hours_to_answer"] is None and stats["oldest_open"]
    with pytest.raises(AccessDenied):
        a.review.stats(ASKER)


def test_votes_on_answers_are_kept_with_question_answer_and_citations(assistant):
    a = assistant
    answer = a.ask("正当防卫的限度怎么认定", principal=ASKER)
    shown = a.review.shown(ASKER, channel="telegram", question=answer.question, answer=answer.text,
                           citations=[c.to_dict() for c in answer.citations], mode=answer.mode)
    a.review.vote(ASKER, vote=-1, feedback_id=shown, comment="没有说到防卫过当")
    with pytest.raises(NotFound):  # not one's own
        a.review.vote(CIVIL_ASKER, vote=1, feedback_id=shown)
    a.review.vote(CIVIL_ASKER, vote=1, question="q", answer="a", channel="http")
    with pytest.raises(InvalidRequest):
        a.review.vote(ASKER, vote=0, feedback_id=shown)
    report = a.review.feedback(TRAINER, since="7d")
    assert (report["votes"], report["up"], report["down"]) == (2, 1, 1)
    down = next(i for i in report["items"] if i["vote"] == -1)
    assert down["comment"] == "没有说到防卫过当" and down["citations"] == [c.label for c in answer.citations]
    with pytest.raises(InvalidRequest):
        a.review.feedback(TRAINER, since="yesterday")


def test_an_answer_never_quotes_an_experts_restricted_material_to_others(assistant):
    a = assistant
    question = "正当防卫案件审查逮捕时应当重点审查防卫限度"
    wang = expert(a, "wang")  # in 刑事检察部, who may read its restricted case
    assert marker("刑事检察部") in json.dumps([h.to_dict() for h in a.search(question, principal=wang)],
                                          ensure_ascii=False)
    restricted = a.experts.escalate(question, principal=ASKER, line="criminal", restricted=True)
    open_one = a.experts.escalate(question, principal=CIVIL_ASKER, line="criminal")  # may not see the first
    assert open_one["linked_to"] is None
    work = a.experts.claim(open_one["id"], wang)
    assert work["passages"] and marker("刑事检察部") not in json.dumps(work, ensure_ascii=False)

    work = a.experts.claim(restricted["id"], wang)
    n = next(p["n"] for p in work["passages"] if marker("刑事检察部") in p["text"])  # its readers may read it
    a.experts.answer(restricted["id"], wang, f"内部口径要求“对于防卫过当的，应当依法减轻或者免除处罚”[{n}]。")
    with pytest.raises(InvalidRequest):
        a.review.publish(restricted["id"], TRAINER, access=[])  # to everyone: it quotes 刑事检察部's material
    assert a.review.publish(restricted["id"], TRAINER)["status"] == "published"


def test_the_whole_road_on_postgresql(pg_url, corpus_dir, tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"}, database={"url": pg_url})
    a = build_assistant(settings, embedder=HashEmbedder(64))
    a.ingest([corpus_dir / "corpus"])
    a.experts.add_expert("wang", ["criminal"], ["刑事检察部"])
    qid = a.experts.escalate(DECLINED, principal=ASKER, line="criminal", restricted=True)["id"]
    wang = expert(a, "wang")
    work = a.experts.claim(qid, wang)
    a.experts.save_draft(qid, wang, "草稿")
    assert build_assistant(settings, embedder=HashEmbedder(64)).experts.work(qid, wang)["draft"] == "草稿"
    a.experts.answer(qid, wang, good_answer(work["passages"]))
    assert a.review.publish(qid, TRAINER)["label"] == f"检答·第{qid}号"
    assert a.search(DECLINED, principal=ASKER, k=1)[0].chunk.citation == f"检答·第{qid}号"
    assert all(h.chunk.kind.value != "qa" for h in a.search(DECLINED, principal=CIVIL_ASKER, k=20))
    stats = a.review.stats(TRAINER)
    assert stats["lines"][0]["published"] == 1 and stats["lines"][0]["median_hours_to_answer"] is not None


def test_a_published_answer_removed_as_a_document_is_withdrawn(assistant):
    a = assistant
    qid = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")["id"]
    wang = expert(a, "wang")
    a.experts.answer(qid, wang, good_answer(a.experts.claim(qid, wang)["passages"]))
    published = a.review.publish(qid, TRAINER)
    a.documents.remove(published["doc_id"], principal=TRAINER)  # through /v1/documents, not the review
    gone = a.experts.get(qid, TRAINER)
    assert (gone["status"], gone["doc_id"]) == ("withdrawn", None)
    with pytest.raises(Conflict):  # nothing left to withdraw
        a.review.withdraw(qid, TRAINER)
    assert not [h for h in a.search(DECLINED, principal=ASKER, k=12) if h.chunk.kind.value == "qa"]


def test_a_notice_is_done_once_sent_and_handed_out_again_when_it_was_not(data_dir):
    from assistant.experts.store import NOTICE_ATTEMPTS, NOTICE_LEASE, notices

    store = ExpertStore(make(data_dir).docstore.engine)
    store.notify("wecom", "wang", "wang", "问题 #1")
    store.notify("wecom", "zhao", "zhao", "问题 #1")
    store.notify("feishu", "li", "li", "问题 #2")
    wang, zhao = store.take_notices("wecom")
    assert (wang["platform_id"], zhao["platform_id"]) == ("wang", "zhao") and store.take_notices("wecom") == []
    store.settle_notice(wang["id"], wang["taken_at"], True)
    store.settle_notice(zhao["id"], zhao["taken_at"], False)  # the platform refused it
    [zhao] = store.take_notices("wecom")  # only the one not sent, tried a second time
    assert zhao["platform_id"] == "zhao" and zhao["attempts"] == 2
    with store.engine.begin() as conn:  # a worker took it and stopped before saying how it went
        conn.execute(notices.update().values(taken_at=now() - NOTICE_LEASE - timedelta(seconds=1)))
    [again] = store.take_notices("wecom")  # the lease ran out: another worker takes it
    assert again["platform_id"] == "zhao" and again["attempts"] == 3
    store.settle_notice(zhao["id"], zhao["taken_at"], False)  # the first worker's late failure report
    assert store.take_notices("wecom") == []  # does not take it from the second
    assert [n["platform_id"] for n in store.take_notices("feishu")] == ["li"]  # 1st try of its own
    for _ in range(NOTICE_ATTEMPTS - 3):  # tried 3 times so far
        store.settle_notice(again["id"], again["taken_at"], False)
        [again] = store.take_notices("wecom")
    assert again["attempts"] == NOTICE_ATTEMPTS
    store.settle_notice(again["id"], again["taken_at"], False)  # the last try failed: given up
    assert store.take_notices("wecom") == []
    store.settle_notice(wang["id"], wang["taken_at"], False)  # a late failure report after it was sent
    assert store.take_notices("wecom") == []


def test_a_published_answer_whose_file_an_ingest_prunes_is_withdrawn(assistant, tmp_path):
    a = assistant
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "qa.md").write_text("---\nkind: qa\nline: criminal\n---\n\n# 检答\n\n问：自洗钱如何认定？\n\n答：同样构成洗钱罪。\n",
                                  encoding="utf-8")
    a.ingest([folder])
    [doc_id] = [d for d, e in a.docstore.load().items() if e.source.endswith("qa.md")]
    qid = a.experts.escalate(DECLINED, principal=ASKER, line="criminal")["id"]
    a.experts.store.set_fields(qid, status="published", doc_id=doc_id)  # as publishing an answer leaves it
    (folder / "qa.md").unlink()
    assert a.ingest([folder], prune=True).removed == 1
    gone = a.experts.get(qid, TRAINER)
    assert (gone["status"], gone["doc_id"]) == ("withdrawn", None)
