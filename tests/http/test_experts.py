"""The expert pool over real HTTP (uvicorn on 127.0.0.1): declined → escalated → queued for the
line's experts only → claimed (once) → answered with a verified citation → published by a
trainer → the same question answered from the qa document, 检答·第N号; restricted questions and
answers stay in their department; votes and their figures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.experts.common import citable, good_answer
from tests.http.conftest import Server, marker, serve

QUESTION = "洗钱罪中自洗钱行为如何认定"


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Iterator[Server]:
    for server in serve(tmp_path_factory.mktemp("experts")):
        a = server.assistant
        for name, role, depts in (("wang", "learner", ("刑事检察部",)), ("zhao", "learner", ("民事检察部",)),
                                  ("li", "learner", ("刑事检察部",))):
            server.keys[name] = a.keys.create(user=name, role=role, departments=depts)[1]
        a.experts.add_expert("wang", ["criminal"], ["刑事检察部"])
        a.experts.add_expert("zhao", ["criminal"], ["民事检察部"])
        a.experts.add_expert("li", ["civil"], ["刑事检察部"])
        yield server


def test_from_a_declined_question_to_a_cited_qa_document(pool):
    crim, civil, wang, zhao, li = (pool.client(w) for w in ("crim", "civil", "wang", "zhao", "li"))
    trainer = pool.client("trainer_crim")
    assert crim.post("/v1/ask", json={"question": QUESTION}).json()["refused"]
    made = crim.post("/v1/questions", json={"question": QUESTION, "line": "criminal", "history": ["正当防卫"]})
    assert made.status_code == 201, made.text
    qid = made.json()["id"]
    assert made.json()["status"] == "open" and "资料中未找到" in made.json()["found"]["text"]

    assert [q["id"] for q in wang.get("/v1/questions", params={"status": "open"}).json()["questions"]] == [qid]
    assert li.get("/v1/questions", params={"status": "open"}).json()["questions"] == []
    assert crim.get("/v1/questions").status_code == 403  # a learner has no queue
    assert [q["id"] for q in crim.get("/v1/questions", params={"mine": "true"}).json()["questions"]] == [qid]
    shown = wang.get(f"/v1/questions/{qid}").json()
    assert shown["asker"] is None and shown["asker_departments"] == "刑事检察部"

    work = wang.post(f"/v1/questions/{qid}/claim")
    assert work.status_code == 200, work.text
    taken = zhao.post(f"/v1/questions/{qid}/claim")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    n, _, _label = citable(work.json()["passages"])
    assert wang.put(f"/v1/questions/{qid}/draft", json={"text": "初稿"}).json()["saved"]
    assert wang.get(f"/v1/questions/{qid}").json()["draft"] == "初稿"
    bad = wang.post(f"/v1/questions/{qid}/answer", json={"text": f"应当审查“洗钱罪的七种法定情形”[{n}]。"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unverified_answer"
    assert "not found verbatim" in bad.json()["error"]["problems"][0]
    text = good_answer(work.json()["passages"])
    good = wang.post(f"/v1/questions/{qid}/answer", json={"text": text})
    assert good.status_code == 200, good.text
    assert crim.get(f"/v1/questions/{qid}").json()["answer"] == good.json()["answer"]  # the asker sees it

    assert crim.post(f"/v1/questions/{qid}/publish", json={}).status_code == 403  # trainers publish
    published = trainer.post(f"/v1/questions/{qid}/publish", json={})
    assert published.status_code == 200, published.text
    label = published.json()["label"]
    assert label == f"检答·第{qid}号"
    hits = civil.post("/v1/search", json={"query": QUESTION, "k": 3}).json()["hits"]
    assert hits[0]["kind"] == "qa" and hits[0]["citation"] == label
    again = civil.post("/v1/ask", json={"question": QUESTION}).json()
    assert not again["refused"] and again["citations"][0]["label"] == label

    stats = trainer.get("/v1/stats/experts").json()
    assert {e["user"]: e["answered"] for e in stats["experts"]}["wang"] == 1
    assert trainer.post(f"/v1/questions/{qid}/withdraw").status_code == 200
    assert all(h["kind"] != "qa" for h in civil.post("/v1/search", json={"query": QUESTION, "k": 20}).json()["hits"])


def test_a_restricted_question_and_its_answer_never_reach_another_department(pool):
    crim, civil, wang, zhao = (pool.client(w) for w in ("crim", "civil", "wang", "zhao"))
    question = "正当防卫案件审查逮捕时应当重点审查防卫限度的内部口径"
    made = crim.post("/v1/questions", json={"question": question, "line": "criminal", "restricted": True,
                                            "reason": "unsatisfied", "comment": "要内部口径"}).json()
    qid = made["id"]
    everything = json.dumps(zhao.get("/v1/questions", params={"status": "open"}).json(), ensure_ascii=False)
    assert question not in everything and marker("刑事检察部") not in everything
    for response in (zhao.get(f"/v1/questions/{qid}"), zhao.post(f"/v1/questions/{qid}/claim"),
                     civil.get(f"/v1/questions/{qid}"), pool.client("trainer_civil").get(f"/v1/questions/{qid}")):
        assert response.status_code == 404 and question not in response.text
    work = wang.post(f"/v1/questions/{qid}/claim").json()
    n = next(p["n"] for p in work["passages"] if marker("刑事检察部") in p["text"])
    answered = wang.post(f"/v1/questions/{qid}/answer", json={
        "text": f"内部口径要求“对于防卫过当的，应当依法减轻或者免除处罚”[{n}]。"})
    assert answered.status_code == 200, answered.text
    assert pool.client("trainer_crim").post(f"/v1/questions/{qid}/publish", json={}).status_code == 200
    leaked = civil.post("/v1/search", json={"query": question, "k": 30}).text
    assert "检答" not in leaked and marker("刑事检察部") not in leaked
    assert "检答" in crim.post("/v1/search", json={"query": question, "k": 30}).text
    assert pool.client("trainer_civil").post(f"/v1/questions/{qid}/withdraw").status_code == 404


def test_votes_on_answers_and_their_figures(pool):
    crim = pool.client("crim")
    answer = crim.post("/v1/ask", json={"question": "正当防卫的限度怎么认定"}).json()
    voted = crim.post("/v1/feedback", json={"vote": -1, "comment": "太短", "question": answer["question"],
                                            "answer": answer["text"], "citations": answer["citations"]})
    assert voted.status_code == 201, voted.text
    assert crim.post("/v1/feedback", json={"vote": 3, "question": "q", "answer": "a"}).status_code == 422
    assert crim.get("/v1/stats/feedback").status_code == 403
    report = pool.client("trainer_crim").get("/v1/stats/feedback", params={"since": "7d"}).json()
    down = [i for i in report["items"] if i["comment"] == "太短"]
    assert down and down[0]["citations"] == [c["label"] for c in answer["citations"]]
    bad = pool.client("trainer_crim").get("/v1/stats/feedback", params={"since": "soon"})
    assert bad.status_code == 422 and "Traceback" not in bad.text


def test_bad_requests_get_clear_errors(pool):
    crim = pool.client("crim")
    assert crim.post("/v1/questions", json={"question": QUESTION, "line": "space"}).status_code == 422
    assert crim.post("/v1/questions", json={"question": "", "line": "criminal"}).status_code == 422
    assert crim.get("/v1/questions/99999").status_code == 404
    assert pool.client().get("/v1/questions").status_code == 401
    assert pool.client("wang").get("/v1/questions", params={"status": "lost"}).status_code == 422
