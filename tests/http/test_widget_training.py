"""The widget's 任务 list in headless Chromium: a learner opens their assignments, answers a
quiz assignment in place (it is then complete), and takes a mock exam against the server's
clock to its report. The screenshot lands in test-artifacts/widget-training.png."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.http.conftest import serve
from tests.http.test_widget import ARTIFACTS, CHROMIUM, page  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="Chromium not installed")]


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    for server in serve(tmp_path_factory.mktemp("widget-training")):
        due = (date.today() + timedelta(days=3)).isoformat()
        with server.client("trainer_crim") as c:
            quiz = c.post("/v1/quizzes", json={"topic": "正当防卫", "n": 2}).json()
            c.post(f"/v1/quizzes/{quiz['id']}/publish")
            server.quiz_task = c.post("/v1/assignments", json={"quiz_id": quiz["id"], "due": due}).json()
            exam = c.post("/v1/exams", json={"blueprint": {"title": "刑事模拟考", "time_limit_minutes": 5,
                                                           "sections": [{"line": "criminal", "count": 2}]}}).json()
            server.exam_task = c.post("/v1/assignments", json={"exam_id": exam["id"], "due": due, "hours": 2}).json()
        yield server


def answer_every(cards) -> None:
    for i in range(cards.count()):
        card = cards.nth(i)
        card.locator(".jx-opt").first.click()
        if card.get_attribute("data-type") == "multi":
            card.locator(".jx-submit").click()
        card.locator(".jx-result").wait_for(timeout=30_000)


def test_assignments_and_a_mock_exam_in_the_widget(assigned, page):  # noqa: F811
    page.goto(f"{assigned.url}/widget/demo.html#key={assigned.keys['crim']}")
    page.click("button[data-jx=tasks]")
    page.wait_for_selector(".jx-task")
    quiz_row = page.locator(f".jx-task[data-id='{assigned.quiz_task['id']}']")
    assert quiz_row.get_attribute("data-state") == "open"
    quiz_row.locator(".jx-start").click()
    page.wait_for_selector(".jx-quiz")
    answer_every(page.locator(".jx-quiz"))
    assert page.locator(".jx-quiz .jx-right").count() >= 1  # a quiz assignment shows the key after each answer

    page.locator(f".jx-task[data-id='{assigned.exam_task['id']}'] .jx-start").click()
    page.wait_for_selector(".jx-clock")
    assert page.inner_text(".jx-clock").startswith(("剩余时间 5:00", "剩余时间 4:5"))
    exam_cards = page.locator(".jx-quiz").filter(has_text="刑事模拟考")
    exam_cards.first.wait_for()
    answer_every(exam_cards)
    assert exam_cards.locator(".jx-right").count() == 0  # no key before 交卷
    assert exam_cards.first.locator(".jx-result").inner_text() == "已作答。"
    page.click(".jx-handin")
    report = page.locator(".jx-report")
    report.wait_for(timeout=30_000)
    assert report.inner_text().startswith("成绩：") and "/2" in report.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-training.png"), full_page=True)

    with assigned.client("crim") as c:
        mine = {a["id"]: a for a in c.get("/v1/assignments/me").json()["assignments"]}
        hours = c.get("/v1/hours/me").json()
    assert mine[assigned.quiz_task["id"]]["state"] == "completed"
    assert mine[assigned.exam_task["id"]]["state"] == "completed"
    assert {a["activity"] for a in hours["activities"]} == {"assignment"}  # the exam's own hours are 0
