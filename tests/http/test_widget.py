"""The widget in headless Chromium (Debian's package, driven by Playwright) against the live
server: ask, watch the answer stream in and open a citation, take a quiz question. The
screenshot lands in test-artifacts/widget.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.experts.common import citable, good_answer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium; .ci/run does)"),
]


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 900, "height": 800})
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_ask_stream_cite_and_quiz_in_the_browser(api, page):
    key_id, key = api.assistant.keys.create(user="widget-user", role="learner", departments=("刑事检察部",))
    page.goto(f"{api.url}/widget/demo.html#key={key}")
    page.fill(".jx-form input", "正当防卫的限度怎么认定")
    page.click(".jx-form button[type=submit]")
    answer = page.locator(".jx-a").first
    answer.wait_for(state="attached")
    page.wait_for_selector(".jx-a[data-done='1']", timeout=30_000)
    assert int(answer.get_attribute("data-deltas") or 0) >= 2  # it arrived in pieces
    assert "[1]" in answer.inner_text()

    citation = page.locator(".jx-cite button").first
    assert citation.inner_text().startswith("[1] ")
    quote = page.locator(".jx-quote").first
    assert not quote.is_visible()
    citation.click()
    assert quote.is_visible() and len(quote.inner_text()) > 10

    page.click("button[data-jx=quiz]")
    card = page.locator(".jx-quiz").last
    card.wait_for(timeout=30_000)
    options = card.locator(".jx-opt")
    assert options.count() >= 2
    options.first.click()
    if card.get_attribute("data-type") == "multi":
        card.locator(".jx-submit").click()
    result = card.locator(".jx-result")
    result.wait_for(timeout=30_000)
    assert result.inner_text().startswith(("回答正确", "回答错误"))
    assert card.locator(".jx-right").count() >= 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget.png"), full_page=True)
    assert api.assistant.learners.progress("widget-user@刑事检察部")["attempts"] == 1
    assert not page.locator(".jx-note").count(), page.locator(".jx-note").all_inner_texts()


def test_ask_an_expert_and_vote_in_the_browser(api, page):
    """请专家解答 under a declined answer: the question reaches the line's expert, whose verified
    answer appears in the widget; 踩 under an answered one is stored with the answer's citations."""
    question = "洗钱罪中自洗钱行为如何认定"
    _, key = api.assistant.keys.create(user="widget-asker", role="learner", departments=("刑事检察部",))
    pool = api.assistant.experts
    pool.add_expert("widget-expert", ["criminal"], ["刑事检察部"])
    page.goto(f"{api.url}/widget/demo.html#key={key}&poll=0.5")
    page.fill(".jx-form input", question)
    page.click(".jx-form button[type=submit]")
    page.wait_for_selector(".jx-a[data-done='1']", timeout=30_000)
    assert "资料中未找到" in page.locator(".jx-a").last.inner_text()
    assert not page.locator("button[data-jx=up]").count()  # no votes on a refusal: it goes to the experts
    page.click("button[data-jx=expert]")
    page.fill(".jx-comment", "想知道与上游犯罪的关系")
    page.click(".jx-send")
    status = page.locator(".jx-expert[data-question]").last
    status.wait_for(timeout=30_000)
    qid = int(status.get_attribute("data-question"))
    expert = pool.expert_principal("widget-expert")
    waiting = pool.list(expert, status="open")
    assert [q["id"] for q in waiting] == [qid] and waiting[0]["comment"] == "想知道与上游犯罪的关系"
    work = pool.claim(qid, expert)
    _, sentence, label = citable(work["passages"])
    pool.answer(qid, expert, good_answer(work["passages"], more=False))
    page.wait_for_selector(".jx-expert-answer", timeout=30_000)
    assert sentence in page.locator(".jx-expert-answer").inner_text()
    assert label in status.inner_text()

    page.fill(".jx-form input", "正当防卫的限度怎么认定")
    page.click(".jx-form button[type=submit]")
    page.wait_for_selector(".jx-a[data-done='1'] >> nth=1", timeout=30_000)
    page.locator("button[data-jx=down]").last.click()
    page.fill(".jx-comment", "没有说到防卫过当")
    page.click(".jx-send")
    page.wait_for_selector(".jx-expert[data-voted='-1']", timeout=30_000)
    trainer = api.assistant.keys.authenticate(api.keys["trainer_crim"])[1]
    votes = [i for i in api.assistant.review.feedback(trainer, since="1d")["items"] if i["vote"] == -1]
    assert votes and votes[-1]["question"] == "正当防卫的限度怎么认定" and votes[-1]["citations"]
    assert votes[-1]["comment"] == "没有说到防卫过当"
    page.screenshot(path=str(ARTIFACTS / "widget-experts.png"), full_page=True)
    assert not page.locator(".jx-note").count(), page.locator(".jx-note").all_inner_texts()
