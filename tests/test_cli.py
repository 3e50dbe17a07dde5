"""The `jianxue` command as a user runs it: a subprocess, real settings from the environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from assistant.cli import app
from tests.conftest import CORPUS, REPO, marker, write_restricted_cases


def jianxue(*args: str, data_dir: Path, embedder: str = "hash-64", check: bool = True, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    environment.update(JIANXUE_DATA_DIR=str(data_dir), JIANXUE_EMBEDDER__NAME=embedder, **(env or {}))
    done = subprocess.run([sys.executable, "-m", "assistant", *args], env=environment, capture_output=True,
                          text=True, timeout=600, input=stdin)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def command_names(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [prefix + (c.name or c.callback.__name__).replace("_", "-") for c in group.registered_commands]
    for sub in group.registered_groups:
        names += command_names(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_every_command_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    names = command_names(app)
    assert {"ingest", "stats", "search", "config"} <= set(names)
    for name in names:
        assert f"jianxue {name}" in readme, f"`jianxue {name}` is missing from README.md"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)\n```", readme, flags=re.S)
    test_command = next(b for b in blocks if "pytest" in b and "pip install" in b)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.strip() in ci.splitlines()


@pytest.mark.slow
def test_main_job_on_the_demo_corpus_with_the_default_embedder(tmp_path):
    data = tmp_path / "data"
    first = json.loads(jianxue("ingest", str(CORPUS), "--json", data_dir=data, embedder="use-m3").stdout)
    assert set(first) == {"added", "updated", "unchanged", "removed", "skipped", "chunks", "embedded", "seconds"}
    assert first["added"] == 27 and first["skipped"] == [] and first["embedded"] == first["chunks"] > 100

    hits = json.loads(jianxue("search", "正当防卫的限度怎么认定", "--k", "3", "--json", data_dir=data,
                              embedder="use-m3").stdout)["hits"]
    assert len(hits) == 3
    assert {"rank", "chunk_id", "doc_id", "source_id", "citation", "kind", "line", "score", "text"} <= set(hits[0])
    assert any("正当防卫" in h["doc_id"] for h in hits)

    stats = json.loads(jianxue("stats", "--json", data_dir=data, embedder="use-m3").stdout)
    assert stats["documents"] == 27 and stats["chunks"] == first["chunks"]
    assert stats["by_kind"]["case"]["documents"] == 12
    assert set(stats["by_line"]) == {"criminal", "civil", "administrative", "public_interest", "general"}

    again = json.loads(jianxue("ingest", str(CORPUS), "--json", data_dir=data, embedder="use-m3").stdout)
    assert (again["unchanged"], again["embedded"], again["added"]) == (27, 0, 0)


@pytest.mark.slow
def test_department_access_from_the_command_line(tmp_path):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS), data_dir=data)

    def docs(*args: str) -> set[str]:
        out = jianxue("search", "职务犯罪案件 退回监察机关补充调查", "--k", "50", "--json", *args, data_dir=data).stdout
        return {h["doc_id"] for h in json.loads(out)["hits"]}

    restricted = "materials/criminal/职务犯罪案件审查要点（内部）.md"
    assert restricted in docs()                                  # the operator sees everything
    assert restricted in docs("--as-dept", "刑事检察部")
    assert restricted not in docs("--as-dept", "民事检察部")


@pytest.mark.slow
def test_every_command_with_as_dept_keeps_to_that_department(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "cases", corpus)
    write_restricted_cases(corpus)
    data = tmp_path / "data"
    jianxue("ingest", str(corpus), data_dir=data)
    crim, civil = marker("刑事检察部"), marker("民事检察部")
    question = "正当防卫审查逮捕 内部口径 防卫限度"
    seen = {dept: "".join(jianxue(*args, "--as-dept", dept, data_dir=data).stdout for args in (
        ("search", question, "--k", "30", "--json"), ("ask", question, "--json"),
        ("quiz", "--topic", "内部口径 持刀追砍", "--n", "8", "--json")))
        for dept in ("刑事检察部", "民事检察部")}
    assert crim in seen["刑事检察部"] and civil not in seen["刑事检察部"]
    assert civil in seen["民事检察部"] and crim not in seen["民事检察部"]
    chat = jianxue("chat", "--as-dept", "民事检察部", data_dir=data, stdin=f"{question}\n/sources\n/quit\n").stdout
    assert civil in chat and crim not in chat
    made = json.loads(jianxue("quiz", "--case", "刑事检察部内部口径", "--json", data_dir=data).stdout)
    jianxue("quiz", "publish", made["id"], data_dir=data)
    refused = jianxue("quiz", "take", made["id"], "--user", "li", "--as-dept", "民事检察部", data_dir=data,
                      check=False, stdin="A\n")
    assert refused.returncode == 1 and f"no quiz '{made['id']}'" in refused.stderr and crim not in refused.stdout


def test_human_output(tmp_path):
    data = tmp_path / "data"
    ingest = jianxue("ingest", str(CORPUS), data_dir=data).stdout
    assert "27 added" in ingest and "0 skipped" in ingest
    search = jianxue("search", "诉前检察建议 两个月", "--kind", "material", "--line", "public_interest", data_dir=data).stdout
    assert "《公益诉讼诉前程序讲义》" in search
    stats = jianxue("stats", data_dir=data).stdout
    assert "27 documents" in stats and "public_interest" in stats
    config = jianxue("config", data_dir=data).stdout
    assert f"JIANXUE_DATA_DIR={data}" in config and "JIANXUE_EMBEDDER__NAME=hash-64" in config


@pytest.mark.slow
def test_skipped_files_are_listed_with_their_reason(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.md").write_text("# 笔记\n羁押必要性审查可以依申请启动。", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"not really a pdf")
    out = json.loads(jianxue("ingest", str(folder), "--json", data_dir=tmp_path / "d").stdout)
    assert out["added"] == 1
    assert out["skipped"] == [{"path": str(folder / "scan.pdf"), "reason": "not a PDF (no %PDF header)"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", "正当防卫"), "nothing is indexed"),
        (("ingest", "/no/such/folder"), "no such file or folder"),
        (("search", "x", "--k", "0"), "Invalid value"),
        (("ask", "正当防卫的限度"), "nothing is indexed"),
    ],
)
@pytest.mark.slow
def test_errors_are_one_clear_line_without_traceback(tmp_path, args, message):
    done = jianxue(*args, data_dir=tmp_path / "d", check=False)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_embedder_mismatch_is_explained(tmp_path):
    data = tmp_path / "d"
    jianxue("ingest", str(CORPUS / "materials" / "general"), data_dir=data, embedder="hash-64")
    done = jianxue("search", "条文", data_dir=data, embedder="hash-32", check=False)
    assert done.returncode == 1
    assert "built with the embedder 'hash-64'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_batch_queries_one_process(tmp_path):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS), data_dir=data)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"qid": "a", "query": "正当防卫的限度"}\n{"qid": "b", "query": "诉前检察建议的回复期限"}\n',
                       encoding="utf-8")
    lines = jianxue("search", "--queries", str(queries), "--k", "3", "--json", data_dir=data).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["qid"] for r in rows] == ["a", "b"]
    assert all(len(r["hits"]) == 3 and r["hits"][0]["citation"] for r in rows)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n', encoding="utf-8")
    done = jianxue("search", "--queries", str(bad), data_dir=data, check=False)
    assert done.returncode == 1 and "'qid' and 'query'" in done.stderr


@pytest.mark.slow
def test_learn_and_eval_retrieval(tmp_path, statute_records):
    from tests.conftest import write_jsonl

    data = tmp_path / "data"
    laws = write_jsonl(tmp_path / "laws.jsonl", [r for r in statute_records if r["law_short"] in ("刑法", "刑事诉讼法")])
    jianxue("ingest", str(laws), data_dir=data)
    labelled = write_jsonl(tmp_path / "train.jsonl", [
        {"qid": "t1", "question": "正当防卫超过限度怎么处理", "gold_article_ids": ["刑法#第二十条"]},
        {"qid": "t2", "question": "醉酒开车会怎么样", "gold_article_ids": ["刑法#第一百三十三条之一"]},
    ])
    learned = json.loads(jianxue("learn", str(labelled), "--json", data_dir=data).stdout)
    assert learned == {"read": 2, "added": 2, "total": 2}
    assert json.loads(jianxue("learn", str(labelled), "--json", data_dir=data).stdout)["added"] == 0
    dataset = write_jsonl(tmp_path / "dev.jsonl", [
        {"qid": "d1", "question": "刑法第二十条", "gold_article_ids": ["刑法#第二十条"]},
        {"qid": "d2", "question": "刑诉法第一百七十六条", "gold_article_ids": ["刑事诉讼法#第一百七十六条"]},
    ])
    result = json.loads(jianxue("eval", "retrieval", "--dataset", str(dataset), "--json", data_dir=data).stdout)
    assert result["dev"]["queries"] == 2
    assert result["dev"]["recall@1"] == 1.0 and result["dev"]["mrr@10"] == 1.0
    human = jianxue("eval", "retrieval", "--dataset", str(dataset), data_dir=data).stdout
    assert "dev (2 queries): recall@1 1.000" in human

    outside = write_jsonl(tmp_path / "ooc.jsonl", [{"question": "明天北京会下雨吗"}, {"question": "梅西在哪个球队"}])
    answers = json.loads(jianxue("eval", "answers", "--dataset", str(dataset), "--out-of-corpus", str(outside),
                                 "--json", data_dir=data).stdout)
    at = answers["at_setting"]
    assert (answers["questions"], answers["out_of_corpus"]) == (2, 2)
    assert at["gold_cited"] == 1.0 and at["false_refusal"] == 0.0 and at["refusal_out_of_corpus"] == 1.0
    assert [s["threshold"] for s in answers["sweep"]] == sorted(s["threshold"] for s in answers["sweep"])
    assert answers["sets"]["dev"]["first_gold"] == 1.0  # a named article is the answer's first sentence


@pytest.mark.slow
def test_eval_on_a_file_of_the_wrong_shape(tmp_path):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS / "materials" / "general"), data_dir=data)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"question": "没有 qid 也没有 gold"}\n', encoding="utf-8")
    done = jianxue("eval", "retrieval", "--dataset", str(wrong), data_dir=data, check=False)
    assert done.returncode == 1 and "gold_article_ids" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_ask_and_chat(tmp_path):
    data = tmp_path / "d"
    # the refusal threshold is calibrated for a real embedder; the hash one needs a lower one
    low = {"JIANXUE_ANSWER__MIN_SUPPORT": "0.2"}
    jianxue("ingest", str(CORPUS), data_dir=data)
    answer = json.loads(jianxue("ask", "认罪认罚案件量刑建议怎么提", "--json", data_dir=data, env=low).stdout)
    assert {"text", "citations", "grounded", "refused", "suggestions", "query"} <= set(answer)
    assert answer["citations"] and not answer["refused"]
    assert {"n", "label", "source_id", "chunk_id", "quote"} <= set(answer["citations"][0])
    human = jianxue("ask", "认罪认罚案件量刑建议怎么提", data_dir=data, env=low).stdout
    assert "[1]" in human and "来源" in human and answer["citations"][0]["label"] in human

    session = jianxue("chat", data_dir=data, env=low, stdin="正当防卫的限度怎么认定\n那防卫过当呢？\n/sources\n/new\n/quit\n").stdout
    assert session.count("来源") == 2 and "已开始新的对话" in session
    # /sources printed the quoted text of the second answer under its labels
    assert re.search(r"\[1\] .+\n    “.+”", session), session


@pytest.mark.slow
def test_a_misconfigured_model_is_one_line(tmp_path):
    data = tmp_path / "d"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    done = jianxue("ask", "正当防卫的限度", data_dir=data, check=False, env={"JIANXUE_LLM__PROVIDER": "openai"})
    assert done.returncode == 1 and "JIANXUE_LLM__MODEL" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_quiz_take_export_and_progress(tmp_path):
    data = tmp_path / "d"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    made = json.loads(jianxue("quiz", "--case", "教学案例第2号", "--json", data_dir=data).stdout)
    assert len(made["questions"]) >= 3 and made["status"] == "draft"
    first = made["questions"][0]
    right = "".join("ABCDEF"[i] for i in first["answer"])
    answers = [right] + ["Z", "A"] + ["A"] * (len(made["questions"]) - 1)  # "Z" is refused and asked again
    taken = jianxue("quiz", "take", made["id"], "--user", "wang", data_dir=data, stdin="\n".join(answers) + "\n").stdout
    assert "正确" in taken and "answer with letters" in taken and f"/ {len(made['questions'])} correct" in taken
    progress = json.loads(jianxue("progress", "--user", "wang", "--json", data_dir=data).stdout)
    assert progress["attempts"] == len(made["questions"]) and progress["correct"] >= 1
    out = tmp_path / "quiz.xml"
    jianxue("quiz", "export", made["id"], "--format", "moodle", "--out", str(out), data_dir=data)
    assert out.read_bytes().startswith(b"<?xml") and made["questions"][0]["stem"][:20] in out.read_text(encoding="utf-8")
    assert "published" in jianxue("quiz", "publish", made["id"], data_dir=data).stdout
    human = jianxue("quiz", "--topic", "认罪认罚", data_dir=data).stdout
    assert "答案：" in human and "jianxue quiz take" in human
    survey = json.loads(jianxue("eval", "quizzes", "--json", data_dir=data).stdout)
    assert survey["cases"] == 12 and survey["validity"] >= 0.98 and len(survey["samples"]) == 10
    missing = jianxue("quiz", "export", "zzz", "--format", "md", data_dir=data, check=False)
    assert missing.returncode == 1 and "no quiz 'zzz'" in missing.stderr and "Traceback" not in missing.stderr
    bad = jianxue("quiz", "export", made["id"], "--format", "docx", data_dir=data, check=False)
    assert bad.returncode == 1 and "unknown export format" in bad.stderr
