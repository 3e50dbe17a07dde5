"""The expert pool from the command line, as an operator and experts run it (subprocesses)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import CORPUS, marker, write_restricted_cases
from tests.experts.common import citable, good_answer
from tests.test_cli import jianxue

pytestmark = pytest.mark.slow
QUESTION = "洗钱罪中自洗钱行为如何认定"


def test_declined_escalated_answered_published_and_found(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_restricted_cases(corpus)
    data = tmp_path / "data"

    def run(*args, check=True):
        return jianxue(*args, data_dir=data, check=check)

    def js(*args):
        return json.loads(run(*args, "--json").stdout)

    run("ingest", str(corpus))
    assert js("ask", QUESTION)["refused"]
    run("experts", "add", "--user", "wang", "--line", "criminal", "--dept", "刑事检察部")
    run("experts", "add", "--user", "li", "--line", "civil", "--line", "administrative")
    run("experts", "add", "--user", "zhao", "--line", "criminal", "--dept", "民事检察部")
    assert {e["user"]: e["lines"] for e in js("experts", "list")}["li"] == ["civil", "administrative"]

    qid = js("escalate", QUESTION, "--user", "alice", "--as-dept", "刑事检察部", "--line", "criminal")["id"]
    secret = js("escalate", "正当防卫案件审查逮捕时应当重点审查防卫限度", "--user", "alice", "--as-dept", "刑事检察部",
                "--line", "criminal", "--restricted", "--comment", "需要内部口径")["id"]
    assert [q["id"] for q in js("experts", "queue", "--as", "wang")] == [qid, secret]
    assert js("experts", "queue", "--as", "li") == []
    zhao = run("experts", "queue", "--as", "zhao", "--json").stdout
    assert [q["id"] for q in json.loads(zhao)] == [qid]  # the restricted one is not there
    assert marker("刑事检察部") not in zhao and "alice" not in zhao  # nor its sources, nor the asker's name
    hidden = run("experts", "claim", str(secret), "--as", "zhao", check=False)
    assert hidden.returncode == 1 and f"no question {secret}" in hidden.stderr and "Traceback" not in hidden.stderr

    work = js("experts", "claim", str(qid), "--as", "wang")
    n, _, label = citable(work["passages"])
    taken = run("experts", "claim", str(qid), "--as", "zhao", check=False)
    assert taken.returncode == 1 and "claimed by wang" in taken.stderr
    bad = run("experts", "answer", str(qid), "--as", "wang", "--json", "--text",
              f"应当审查“洗钱罪的七种法定情形”[{n}]。", check=False)
    assert bad.returncode == 2 and "not found verbatim" in json.loads(bad.stdout)["error"]["problems"][0]
    good = js("experts", "answer", str(qid), "--as", "wang", "--text", good_answer(work["passages"]))
    assert good["status"] == "answered" and good["citations"][0]["label"] == label

    published = js("experts", "publish", str(qid))
    assert published["label"] == f"检答·第{qid}号"
    hits = js("search", QUESTION, "--k", "3", "--as-dept", "民事检察部")["hits"]
    assert hits[0]["kind"] == "qa" and hits[0]["citation"] == f"检答·第{qid}号"
    again = js("ask", QUESTION, "--as-dept", "民事检察部")
    assert not again["refused"] and again["citations"][0]["label"] == f"检答·第{qid}号"

    stats = js("experts", "stats")
    assert {e["user"]: e["answered"] for e in stats["experts"]}["wang"] == 1
    run("experts", "withdraw", str(qid))
    assert all(h["kind"] != "qa" for h in js("search", QUESTION, "--k", "20")["hits"])
    run("experts", "remove", "li")
    assert "li" not in {e["user"] for e in js("experts", "list")}
    assert js("feedback", "--since", "7d")["votes"] == 0
    wrong = run("escalate", QUESTION, "--line", "criminal", "--restricted", check=False)
    assert wrong.returncode == 1 and "restricted only to the asker's departments" in wrong.stderr
