"""Training over real HTTP: assignments, 每日一练, the 错题本, 学时 and mock exams, as trainers of
two departments, their learners and an admin use them."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date, timedelta

import pytest

from tests.http.conftest import serve


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    for server in serve(tmp_path_factory.mktemp("training")):
        with server.client("trainer_crim") as c:
            quiz = c.post("/v1/quizzes", json={"topic": "正当防卫", "n": 4}).json()
            assert c.post(f"/v1/quizzes/{quiz['id']}/publish").status_code == 200
        server.quiz = quiz
        yield server


def due(days: int = 5) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def wrong(q: dict) -> list[int]:
    return [next(i for i in range(len(q["options"])) if i not in q["answer"])]


def test_an_assignment_from_trainer_to_learner_and_back(trained):
    quiz = trained.quiz
    with trained.client("crim") as c:
        assert c.post("/v1/assignments", json={"quiz_id": quiz["id"], "due": due()}).status_code == 403
    with trained.client("trainer_crim") as c:
        r = c.post("/v1/assignments", json={"quiz_id": quiz["id"], "departments": ["民事检察部"], "due": due()})
        assert r.status_code == 403
        r = c.post("/v1/assignments", json={"quiz_id": quiz["id"], "due": "soon"})
        assert r.status_code == 422 or (r.status_code == 400 and "date" in r.json()["error"]["message"])
        made = c.post("/v1/assignments", json={"quiz_id": quiz["id"], "departments": ["刑事检察部"], "due": due(),
                                               "hours": 0.5}).json()
    with trained.client("civil") as c:
        assert made["id"] not in [a["id"] for a in c.get("/v1/assignments/me").json()["assignments"]]
    with trained.client("crim") as c:
        mine = {a["id"]: a for a in c.get("/v1/assignments/me").json()["assignments"]}
        assert mine[made["id"]]["state"] == "open"
        for q in quiz["questions"]:
            r = c.post(f"/v1/quizzes/{quiz['id']}/answers", json={"question_id": q["id"], "chosen": q["answer"]})
            assert r.status_code == 200 and r.json()["correct"]
        mine = {a["id"]: a for a in c.get("/v1/assignments/me").json()["assignments"]}
        assert mine[made["id"]]["state"] == "completed" and mine[made["id"]]["score"] == 1.0
        hours = c.get("/v1/hours/me").json()
        assert any(a["activity"] == "assignment" and a["ref"] == str(made["id"]) for a in hours["activities"])
        assert c.get(f"/v1/assignments/{made['id']}").status_code == 403
    with trained.client("trainer_civil") as c:
        assert c.get(f"/v1/assignments/{made['id']}").status_code == 404
        assert c.get("/v1/hours", params={"department": "刑事检察部"}).status_code == 403
    with trained.client("trainer_crim") as c:
        status = c.get(f"/v1/assignments/{made['id']}").json()
        crim = next(p for p in status["learners"] if p["user"] == "crim")
        assert crim["completed"] and crim["score"] == 1.0
        assert status["departments_status"][0]["department"] == "刑事检察部"
        assert made["id"] in [a["id"] for a in c.get("/v1/assignments").json()["assignments"]]
        csv = c.get("/v1/hours", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert "crim,刑事检察部,0.5" in csv.content.decode("utf-8-sig")
        xlsx = c.get("/v1/hours", params={"format": "xlsx"})
        with zipfile.ZipFile(io.BytesIO(xlsx.content)) as z:
            assert "<t>crim</t>" in z.read("xl/worksheets/sheet1.xml").decode()
    with trained.client("admin") as c:
        assert c.get(f"/v1/assignments/{made['id']}").status_code == 200


def test_mistakes_daily_and_redo_over_http(trained):
    quiz = trained.quiz
    key = {q["id"]: q for q in quiz["questions"]}
    with trained.client("civil") as c:  # a question 民事检察部 may read (not one citing 刑事检察部's restricted case)
        first = key[c.get(f"/v1/quizzes/{quiz['id']}").json()["questions"][0]["id"]]
    with trained.client("trainer_crim") as c:
        assert c.post("/v1/focus", json={"department": "刑事检察部", "topics": ["正当防卫"]}).status_code == 200
    with trained.client("civil") as c:
        # a learner of 民事检察部 answers wrong; a redo comes back graded, the notebook keeps it
        r = c.post("/v1/practice/answers", json={"question_id": first["id"], "chosen": wrong(first)})
        assert r.status_code == 200 and r.json()["in_notebook"]
        notebook = c.get("/v1/mistakes/me").json()["mistakes"]
        assert notebook[0]["question_id"] == first["id"] and notebook[0]["chosen"] == wrong(first)
        assert notebook[0]["answer"] == first["answer"] and notebook[0]["citations"]
        today = c.get("/v1/daily/me").json()
        assert today["questions"][0]["id"] == first["id"] and "answer" not in today["questions"][0]
        for _ in range(2):
            r = c.post("/v1/practice/answers", json={"question_id": first["id"], "chosen": key[first["id"]]["answer"]})
        assert r.json()["correct"] and not r.json()["in_notebook"]
        assert c.get("/v1/mistakes/me").json()["mistakes"] == []
        assert c.get("/v1/hours/me", params={"year": 1999}).status_code == 422


def test_a_mock_exam_past_its_time_limit_keeps_only_the_answers_in_time(trained):
    blueprint = {"title": "限时考", "time_limit_minutes": 0.1, "hours": 1,  # 6 s: time for the first answer to come in
                 "sections": [{"line": "criminal", "topic": "正当防卫", "count": 2}]}
    with trained.client("trainer_crim") as c:
        assert c.post("/v1/exams", json={"blueprint": {"sections": []}}).status_code == 422
        exam = c.post("/v1/exams", json={"blueprint": blueprint, "seed": 5}).json()
        assert c.post("/v1/exams", json={"blueprint": blueprint, "seed": 5}).json()["id"] == exam["id"]
    first, second = exam["questions"]
    with trained.client("crim") as c:
        assert c.post(f"/v1/exams/{exam['id']}/answers",
                      json={"question_id": first["id"], "chosen": [0]}).status_code == 404  # not started
        sitting = c.post(f"/v1/exams/{exam['id']}/start").json()
        assert sitting["seconds_left"] == 6 and "answer" not in sitting["questions"][0]
        assert c.post(f"/v1/exams/{exam['id']}/answers",
                      json={"question_id": first["id"], "chosen": first["answer"]}).json()["counted"]
        time.sleep(6.2)
        late = c.post(f"/v1/exams/{exam['id']}/answers", json={"question_id": second["id"], "chosen": second["answer"]})
        assert late.json() == {"question_id": second["id"], "counted": False, "reason": "after the time limit"}
        assert c.get(f"/v1/exams/{exam['id']}/report").status_code == 409
        report = c.post(f"/v1/exams/{exam['id']}/submit").json()
        assert (report["correct"], report["questions"], report["late_answers"]) == (1, 2, [second["id"]])
        assert report["topics"][0]["answered"] == 1
        assert c.post(f"/v1/exams/{exam['id']}/answers",
                      json={"question_id": first["id"], "chosen": [0]}).status_code == 409
        assert any(a["activity"] == "exam" for a in c.get("/v1/hours/me").json()["activities"])
