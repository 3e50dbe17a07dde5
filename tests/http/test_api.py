"""The HTTP API as a client sees it: real HTTP against uvicorn on 127.0.0.1."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile

import httpx
import pytest

from tests.http.conftest import DEPARTMENTS, marker, serve

CRIM, CIVIL = (marker(d) for d in DEPARTMENTS)


# -- identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer jx_nope_nope"}, {"Authorization": "Basic abc"}])
def test_a_missing_or_wrong_key_is_401(api, headers):
    with httpx.Client(base_url=api.url, headers=headers) as c:
        r = c.post("/v1/search", json={"query": "正当防卫"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    failures = [a for a in api.audit() if a["event"] == "auth_failed"]
    assert failures and all("nope" not in json.dumps(a) for a in failures)


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/v1/quizzes/x/publish"), ("get", "/v1/quizzes/x/export"), ("get", "/v1/stats/groups"),
    ("delete", "/v1/documents/x"), ("post", "/v1/documents"),
])
def test_a_learner_on_trainer_endpoints_is_403(api, method, path):
    with api.client("crim") as c:
        r = c.request(method, path)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_revoked_keys_stop_working(api):
    key_id, secret = api.assistant.keys.create(user="tmp", role="learner", departments=())
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/v1/progress/me").status_code == 200
        api.assistant.keys.revoke(key_id)
        assert c.get("/v1/progress/me").status_code == 401


def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(api, monkeypatch):
    from types import SimpleNamespace

    from assistant.access import Keys

    # the cache's clock moved by hand: on a busy machine 0.5 s of real time can pass between two requests
    clock = SimpleNamespace(at=time.monotonic())
    monkeypatch.setattr("assistant.access.time", SimpleNamespace(monotonic=lambda: clock.at))
    monkeypatch.setattr(api.assistant.keys, "cache_s", 0.5)
    key_id, secret = api.assistant.keys.create(user="tmp2", role="learner", departments=())
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/v1/progress/me").status_code == 200
        Keys(api.assistant.docstore.engine).revoke(key_id)  # what `jianxue keys revoke` does, elsewhere
        assert c.get("/v1/progress/me").status_code == 200  # remembered for cache_s
        clock.at += 0.6
        assert c.get("/v1/progress/me").status_code == 401


# -- department isolation on every endpoint that returns text --------------------------------------


def everything_text(api, who: str) -> str:
    """All the text one caller gets back from every endpoint that returns corpus text."""
    out = []
    with api.client(who) as c:
        for q in ("正当防卫审查逮捕 内部口径", "防卫过当 内部编号"):
            out.append(c.post("/v1/ask", json={"question": q}).text)
            out.append(c.post("/v1/search", json={"query": q, "k": 20}).text)
            out.append(c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": q}]}).text)
            with c.stream("POST", "/v1/ask", json={"question": q}, headers={"Accept": "text/event-stream"}) as r:
                out.append(r.read().decode())
        quiz = c.post("/v1/quizzes", json={"topic": "正当防卫 内部口径 持刀追砍", "n": 10})
        out.append(quiz.text)
        out.append(c.get("/v1/documents").text)
    return "\n".join(out)


def test_departments_see_only_their_own_restricted_material(api):
    crim = everything_text(api, "crim")
    civil = everything_text(api, "civil")
    assert CRIM in crim and CIVIL not in crim
    assert CIVIL in civil and CRIM not in civil


def test_quizzes_and_exports_are_filtered_for_other_departments(api):
    with api.client("trainer_crim") as c:
        made = c.post("/v1/quizzes", json={"case": "刑事检察部内部口径", "n": 3})
        assert made.status_code == 200, made.text
        quiz_id = made.json()["id"]
        exported = c.get(f"/v1/quizzes/{quiz_id}/export", params={"format": "md"})
        assert exported.status_code == 200 and CRIM in exported.text
    with api.client("trainer_civil") as c:
        assert c.get(f"/v1/quizzes/{quiz_id}/export", params={"format": "md"}).status_code == 404
        assert c.get(f"/v1/quizzes/{quiz_id}").status_code == 404
    with api.client("civil") as c:
        r = c.post(f"/v1/quizzes/{quiz_id}/answers", json={"question_id": "x", "chosen": [0]})
        assert r.status_code == 404


def test_learners_get_questions_without_answers_and_grading_records(api):
    with api.client("crim") as c:
        quiz = c.post("/v1/quizzes", json={"case": "教学案例第2号", "n": 3}).json()
        q = quiz["questions"][0]
        assert "answer" not in q and "explanation" not in q and "citations" not in q
        graded = c.post(f"/v1/quizzes/{quiz['id']}/answers", json={"question_id": q["id"], "chosen": [0]}).json()
        assert set(graded) >= {"correct", "answer", "explanation", "citations", "next_review"}
        progress = c.get("/v1/progress/me").json()
        assert progress["attempts"] >= 1 and progress["user"] == "crim"
        assert "questions" in c.get("/v1/reviews/due").json()
    with api.client("trainer_crim") as c:
        groups = c.get("/v1/stats/groups").json()
        assert groups["department"] == "刑事检察部" and any(r["user"] == "crim" for r in groups["learners"])
        assert c.get("/v1/stats/groups", params={"department": "民事检察部"}).status_code == 403
        full = c.get(f"/v1/quizzes/{quiz['id']}").json()["questions"][0]
        assert "answer" in full and full["citations"]
        assert c.post(f"/v1/quizzes/{quiz['id']}/publish").json()["status"] == "published"
        gift = c.get(f"/v1/quizzes/{quiz['id']}/export", params={"format": "gift"})
        assert gift.status_code == 200 and "::" in gift.text
        assert c.get(f"/v1/quizzes/{quiz['id']}/export", params={"format": "docx"}).status_code == 422


# -- answers: JSON, server-sent events, OpenAI-compatible -------------------------------------------


def sse(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        name = next(line[7:] for line in block.splitlines() if line.startswith("event: "))
        data = next(line[6:] for line in block.splitlines() if line.startswith("data: "))
        out.append((name, json.loads(data)))
    return out


def test_ask_json_and_streamed(api):
    with api.client("crim") as c:
        plain = c.post("/v1/ask", json={"question": "认罪认罚案件量刑建议怎么提"}).json()
        assert plain["citations"] and not plain["refused"]
        with c.stream("POST", "/v1/ask", json={"question": "认罪认罚案件量刑建议怎么提"},
                      headers={"Accept": "text/event-stream"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = sse(r.read().decode())
    names = [n for n, _ in events]
    assert names[-2:] == ["citations", "done"] and "delta" in names
    assert "".join(d["text"] for n, d in events if n == "delta") == events[-1][1]["text"] == plain["text"]
    follow = api.client("crim").post("/v1/ask", json={"question": "那量刑建议呢？", "history": [plain["turn"]]}).json()
    assert "认罪认罚" in follow["query"]


def test_a_client_that_disconnects_mid_stream_does_not_hurt_the_server(api):
    with api.client("crim") as c:
        with c.stream("POST", "/v1/ask", json={"question": "正当防卫的限度怎么认定"},
                      headers={"Accept": "text/event-stream"}) as r:
            next(r.iter_bytes())
        assert c.get("/healthz").json()["status"] == "ok"
        assert c.post("/v1/search", json={"query": "正当防卫"}).status_code == 200


def test_openai_compatible_chat_with_the_official_client(api):
    from openai import OpenAI

    client = OpenAI(base_url=api.url + "/v1", api_key=api.keys["crim"])
    done = client.chat.completions.create(model="jianxue", messages=[{"role": "user", "content": "正当防卫的限度怎么认定"}])
    assert "[1]" in done.choices[0].message.content and "来源" in done.choices[0].message.content
    assert done.model_extra["citations"][0]["quote"]
    stream = client.chat.completions.create(model="jianxue", stream=True,
                                            messages=[{"role": "user", "content": "正当防卫的限度怎么认定"}])
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text.startswith(done.choices[0].message.content.split("\n\n来源")[0][:20])
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]
    with pytest.raises(Exception, match="401"):
        OpenAI(base_url=api.url + "/v1", api_key="jx_bad_key").chat.completions.create(
            model="jianxue", messages=[{"role": "user", "content": "x"}])


# -- documents --------------------------------------------------------------------------------------


def docx_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document>" + "A" * (300 * 1024 * 1024) + "</w:document>")
    return buf.getvalue()


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("empty.md", b"", 422, "empty_file"),
    ("data.txt", bytes(range(256)) * 40, 415, "unsupported_type"),
    ("bomb.docx", None, 422, "unreadable_file"),
    ("archive.docx", None, 415, "unsupported_type"),
])
def test_bad_uploads_get_clear_errors(api, name, data, status, code):
    if name == "bomb.docx":
        data = docx_bomb()
    elif name == "archive.docx":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", "hello")
        data = buf.getvalue()
    with api.client("trainer_crim") as c:
        r = c.post("/v1/documents", files={"file": (name, data)})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert not any(p.name.startswith(name.split(".")[0]) for p in (api.data_dir / "uploads").rglob("*") if p.is_file())


def test_oversized_uploads_are_413(tmp_path):
    for server in serve(tmp_path, http={"max_upload_mb": 0.05}):
        with server.client("trainer_crim") as c:
            r = c.post("/v1/documents", files={"file": ("big.md", "正当防卫。".encode() * 20000)})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
            r = c.post("/v1/search", content=b'{"query": "' + b"x" * 400_000 + b'"}',
                       headers={"Content-Type": "application/json"})
            assert r.status_code == 413


def test_an_upload_is_searchable_at_once_and_deletable(api):
    text = "---\ntitle: 轻伤害和解指引\n---\n# 轻伤害和解指引\n\n轻伤害案件刑事和解的关键词 XYZZYUPLOAD 应当记录在案。\n"
    with api.client("trainer_crim") as c:
        r = c.post("/v1/documents", files={"file": ("../../etc/轻伤害 和解?.md", text.encode("gbk"))},
                   data={"line": "criminal"})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert "/" not in doc["name"] and ".." not in doc["name"] and doc["access"] == ["刑事检察部"]
        stored = list((api.data_dir / "uploads").rglob(doc["name"]))
        assert len(stored) == 1 and api.data_dir / "uploads" in stored[0].parents
        hits = c.post("/v1/search", json={"query": "XYZZYUPLOAD 刑事和解"}).json()["hits"]
        assert hits and hits[0]["doc_id"] == doc["doc_id"]
    with api.client("civil") as c:  # restricted to the uploader's department by default
        assert all(h["doc_id"] != doc["doc_id"] for h in c.post("/v1/search", json={"query": "XYZZYUPLOAD"}).json()["hits"])
    with api.client("trainer_civil") as c:
        assert c.delete(f"/v1/documents/{doc['doc_id']}").status_code == 404
    with api.client("trainer_crim") as c:
        assert c.delete(f"/v1/documents/{doc['doc_id']}").json() == {"deleted": doc["doc_id"]}
        assert all(h["doc_id"] != doc["doc_id"] for h in c.post("/v1/search", json={"query": "XYZZYUPLOAD"}).json()["hits"])
        assert c.post("/v1/documents", files={"file": ("x.md", b"# t\n\nx")}, data={"access": "民事检察部"}).status_code == 403
    events = [a["event"] for a in api.audit()]
    assert {"upload", "delete", "search", "ask"} <= set(events)
    assert all(k not in (api.data_dir / "audit.log").read_text(encoding="utf-8") for k in api.keys.values())


# -- limits and operations ------------------------------------------------------------------------------


def test_rate_limit_gives_429_with_retry_after(tmp_path):
    for server in serve(tmp_path, http={"burst": 3, "rate_per_minute": 6}):
        with server.client("crim") as c:
            codes = [c.get("/v1/progress/me").status_code for _ in range(5)]
            assert codes[:3] == [200, 200, 200] and codes[3] == 429
            r = c.get("/v1/progress/me")
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        with server.client("civil") as c:  # per key
            assert c.get("/v1/progress/me").status_code == 200


def test_errors_are_json_with_a_stable_code(api):
    with api.client("crim") as c:
        assert c.get("/v1/quizzes/nope").json()["error"]["code"] == "not_found"
        bad = c.post("/v1/search", json={"query": ""})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        assert c.post("/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
        assert c.get("/no/such/path").json()["error"]["code"] == "not_found"


def test_health_metrics_and_widget(api):
    with api.client("crim") as c:
        assert c.post("/v1/search", json={"query": "正当防卫"}).status_code == 200
    with httpx.Client(base_url=api.url) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        metrics = c.get("/metrics").text
        assert 'jianxue_http_requests_total{method="POST",route="/v1/search"' in metrics
        assert "jianxue_http_request_seconds_bucket" in metrics
        js = c.get("/widget/jianxue.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "/v1/ask" in js.text
        assert "jianxue.js" in c.get("/widget/demo.html").text


@pytest.mark.slow
def test_cli_ingest_while_serving_is_refused_with_what_to_do(tmp_path):
    import os

    from tests.http.conftest import free_port
    from tests.servers import wait_until_up

    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    env.update(JIANXUE_DATA_DIR=str(tmp_path / "d"), JIANXUE_EMBEDDER__NAME="hash-64")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process=server)  # holding the writer lock by then
        done = subprocess.run([sys.executable, "-m", "assistant", "ingest", "corpus/cases"], env=env,
                              capture_output=True, text=True)
        assert done.returncode == 1 and "(serve" in done.stderr and "POST /v1/documents" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
