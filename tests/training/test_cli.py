"""The training commands as an operator runs them: subprocesses over a data directory where a
quiz on 正当防卫 has been published (the world fixture)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest

from assistant.db import now
from tests.test_cli import jianxue
from tests.training.conftest import CRIM

pytestmark = pytest.mark.slow


def test_assign_take_review_and_count_hours_from_the_command_line(world, tmp_path):
    data, quiz = world.assistant.settings.data_dir, world.quiz
    due = (now() + timedelta(days=5)).date().isoformat()
    made = json.loads(jianxue("assign", quiz.id, "--dept", CRIM, "--due", due, "--hours", "0.5", "--json",
                              data_dir=data).stdout)
    assert made["departments"] == [CRIM] and made["hours"] == 0.5
    bad = jianxue("assign", quiz.id, "--dept", CRIM, "--due", "someday", data_dir=data, check=False)
    assert bad.returncode == 1 and "not a date" in bad.stderr and "Traceback" not in bad.stderr

    wrong_first = "".join("A" if q.answer != [0] else "B" for q in quiz.questions[:1])
    rights = ["ABCDEFG"[q.answer[0]] + "".join("ABCDEFG"[i] for i in q.answer[1:]) for q in quiz.questions[1:]]
    answers = "\n".join([wrong_first, *rights]) + "\n"
    jianxue("quiz", "take", quiz.id, "--user", "alice", "--as-dept", CRIM, data_dir=data, stdin=answers)

    status = json.loads(jianxue("assignments", "status", str(made["id"]), "--json", data_dir=data).stdout)
    alice = next(p for p in status["learners"] if p["user"] == "alice")
    assert alice["completed"] and status["targeted"] == 2
    notebook = json.loads(jianxue("mistakes", "--user", "alice", "--dept", CRIM, "--json", data_dir=data).stdout)
    assert [m["question_id"] for m in notebook] == [quiz.questions[0].id]
    text = jianxue("mistakes", "--user", "alice", "--dept", CRIM, data_dir=data).stdout
    assert "正确答案" in text and quiz.questions[0].citations[0].label in text

    hours = json.loads(jianxue("hours", "--user", "alice", "--dept", CRIM, "--year", str(now().year), "--json",
                               data_dir=data).stdout)
    assert hours["total"] == 0.5
    export = tmp_path / "hours.xlsx"
    jianxue("hours", "--dept", CRIM, "--year", str(now().year), "--export", str(export), data_dir=data)
    with zipfile.ZipFile(io.BytesIO(export.read_bytes())) as z:
        assert "<t>alice</t>" in z.read("xl/worksheets/sheet1.xml").decode()


def test_make_and_take_a_mock_exam_from_the_command_line(world, tmp_path):
    data = world.assistant.settings.data_dir
    blueprint = tmp_path / "exam.yaml"
    blueprint.write_text("title: 测试考\ntime_limit_minutes: 5\nhours: 1\nsections:\n  - {line: criminal, count: 2}\n",
                         encoding="utf-8")
    exam = json.loads(jianxue("exam", "make", "--blueprint", str(blueprint), "--seed", "4", "--json",
                              data_dir=data).stdout)
    again = json.loads(jianxue("exam", "make", "--blueprint", str(blueprint), "--seed", "4", "--json",
                               data_dir=data).stdout)
    assert exam["id"] == again["id"] and len(exam["questions"]) == 2
    keys = ["ABCDEFG"[q["answer"][0]] + "".join("ABCDEFG"[i] for i in q["answer"][1:]) for q in exam["questions"]]
    done = jianxue("exam", "take", exam["id"], "--user", "bob", "--dept", CRIM, data_dir=data,
                   stdin="\n".join(keys) + "\n").stdout
    assert "2 / 2" in done
    blueprint.write_text("time_limit_minutes: 5\nsections: [{count: 0}]", encoding="utf-8")
    bad = jianxue("exam", "make", "--blueprint", str(blueprint), data_dir=data, check=False)
    assert bad.returncode == 1 and "count" in bad.stderr and "Traceback" not in bad.stderr
