"""The trainer console: its API over real HTTP (a trainer sees their departments only, drafts
edited and dropped only while drafts), and the page in headless Chromium — sign in, see the
heat map and the completion chart, publish an expert's answer, edit and publish a draft, assign it. Screenshots land in
test-artifacts/console*.png."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from assistant.models import Principal
from tests.experts.common import good_answer
from tests.http.conftest import serve
from tests.http.test_widget import ARTIFACTS, CHROMIUM, FLAGS


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    for server in serve(tmp_path_factory.mktemp("console")):
        with server.client("trainer_crim") as c:
            published = c.post("/v1/quizzes", json={"topic": "正当防卫", "n": 4}).json()
            c.post(f"/v1/quizzes/{published['id']}/publish")
            c.post("/v1/assignments", json={"quiz_id": published["id"], "due": (date.today() + timedelta(days=9))
                                            .isoformat(), "hours": 1})
            server.draft = c.post("/v1/quizzes", json={"topic": "认罪认罚", "n": 3}).json()
        for who in ("crim", "civil"):
            with server.client(who) as c:
                for i, q in enumerate(c.get(f"/v1/quizzes/{published['id']}").json()["questions"]):
                    c.post(f"/v1/quizzes/{published['id']}/answers", json={"question_id": q["id"], "chosen": [i % 2]})
        server.published = published
        a = server.assistant  # an expert's checked answer, waiting for a trainer to publish it
        a.experts.add_expert("wang", ["criminal"], ["刑事检察部"])
        wang = a.experts.expert_principal("wang")
        asker = Principal(user="crim", role="learner", departments=("刑事检察部",))
        server.answered = a.experts.escalate("洗钱罪中自洗钱行为如何认定", principal=asker, line="criminal")["id"]
        work = a.experts.claim(server.answered, wang)
        a.experts.answer(server.answered, wang, good_answer(work["passages"]))
        yield server


def test_the_overview_keeps_to_the_trainers_departments(board):
    with board.client("trainer_crim") as c:
        mine = c.get("/v1/console/overview").json()
        assert mine["departments"] == ["刑事检察部"] and mine["heat"]["topics"]
        assert mine["assignments"][0]["targeted"] >= 1 and mine["weeks"][-1]["attempts"] >= 1
        assert mine["weeks"][-1]["partial"] and not any(w["partial"] for w in mine["weeks"][:-1])  # this week
        assert c.get("/v1/console/overview", params={"department": "民事检察部"}).status_code == 403
        assert [d["id"] for d in c.get("/v1/console/drafts").json()["drafts"]] == [board.draft["id"]]
    with board.client("trainer_civil") as c:
        assert c.get("/v1/console/drafts").json()["drafts"] == []
        assert c.get("/v1/console/overview").json()["assignments"] == []
    with board.client("admin") as c:
        assert set(c.get("/v1/console/overview").json()["departments"]) >= {"刑事检察部", "民事检察部"}
    with board.client("crim") as c:
        assert c.get("/v1/console/overview").status_code == 403


def test_drafts_are_edited_and_only_drafts(board):
    published = board.published
    with board.client("trainer_crim") as c:
        q = published["questions"][0]
        r = c.patch(f"/v1/quizzes/{published['id']}/questions/{q['id']}", json={"stem": "改"})
        assert r.status_code == 422 and "published" in r.json()["error"]["message"]
        draft = c.get(f"/v1/quizzes/{board.draft['id']}").json()
        first = draft["questions"][0]["id"]
        r = c.patch(f"/v1/quizzes/{draft['id']}/questions/{first}", json={"options": ["一", "一"]})
        assert r.status_code == 422 and "distinct" in r.json()["error"]["message"]
    with board.client("trainer_civil") as c:
        r = c.delete(f"/v1/quizzes/{board.draft['id']}/questions/{board.draft['questions'][0]['id']}")
        assert r.status_code == 403


def test_the_console_page_in_chromium(board, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM or not __import__("pathlib").Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.goto(f"{board.url}/console/")
            page.fill("#key", "jx_wrong_key")
            page.click("#signin button")
            page.wait_for_function("document.querySelector('#message').textContent.length > 0")
            assert page.inner_text("#message") == "密钥无效"

            page.fill("#key", board.keys["trainer_crim"])
            page.click("#signin button")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            assert page.locator("#heat td.cell").count() >= 1
            assert "%" in page.inner_text("#heat")
            assert page.locator("#completion .uplot canvas").count() == 1
            assert page.locator("#scores .uplot canvas").count() == 1
            page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)

            answered = page.locator(f"#answered li[data-question='{board.answered}']")
            assert "洗钱罪中自洗钱行为如何认定" in answered.inner_text() and "刑事检察" in answered.inner_text()
            assert "刑事检察：待认领 0 · 处理中 0 · 已答 1" in page.inner_text("#experts")
            answered.locator(".q-publish").click()
            page.wait_for_function("document.querySelector('#message').textContent.startsWith('已发布为 检答')")
            page.wait_for_selector("#answered li:not(.answered)")  # none left to publish

            page.click(f"button[data-quiz='{board.draft['id']}']")
            page.wait_for_selector("#draft .question")
            first = page.locator("#draft .question").first
            first.locator("textarea.q-stem").fill("经修改的题干：认罪认罚从宽制度适用于哪些案件？")
            first.locator(".q-save").click()
            page.wait_for_function("document.querySelector('#message').textContent === '已保存'")
            before = page.locator("#draft .question").count()
            page.locator("#draft .question").nth(1).locator(".q-drop").click()
            page.wait_for_function(f"document.querySelectorAll('#draft .question').length === {before - 1}")
            page.click("#publish")
            page.wait_for_selector("#assign-form:not([hidden])")
            page.fill("#assign-due", (date.today() + timedelta(days=14)).isoformat())
            page.fill("#assign-hours", "1.5")
            page.click("#assign-submit")
            page.wait_for_function("document.querySelector('#message').textContent.startsWith('已布置')")
            page.screenshot(path=str(ARTIFACTS / "console-draft.png"), full_page=True)
        finally:
            browser.close()
    with board.client("trainer_crim") as c:
        assert c.get(f"/v1/questions/{board.answered}").json()["label"] == f"检答·第{board.answered}号"
        quiz = c.get(f"/v1/quizzes/{board.draft['id']}").json()
        assert quiz["status"] == "published" and len(quiz["questions"]) == len(board.draft["questions"]) - 1
        assert quiz["questions"][0]["stem"].startswith("经修改的题干")
        made = c.get("/v1/assignments").json()["assignments"]
        assert any(a["ref"] == quiz["id"] and a["hours"] == 1.5 and a["departments"] == ["刑事检察部"] for a in made)
