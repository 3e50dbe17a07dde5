"""`jianxue bot dingtalk` as an operator runs it: `python -m assistant bot dingtalk` as a process of
its own, configured only by JIANXUE_* variables, reached as DingTalk reaches it. The SDK in that
process must take its address from JIANXUE_DINGTALK__ENDPOINT (set before its first import), even
where DINGTALK_OPENAPI_ENDPOINT names another server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from assistant.conversation import texts
from tests.conftest import CORPUS, REPO
from tests.test_cli import jianxue

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def environment(fake, data, **dingtalk) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    env |= {f"JIANXUE_DINGTALK__{k.upper()}": str(v) for k, v in (fake.settings() | dingtalk).items()}
    return env | {"JIANXUE_DATA_DIR": str(data), "JIANXUE_EMBEDDER__NAME": "hash-64",
                  "JIANXUE_ANSWER__MIN_SUPPORT": "0.2", "DINGTALK_OPENAPI_ENDPOINT": "https://api.dingtalk.invalid",
                  "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def test_the_robot_process_answers_through_the_fake_and_stops_on_ctrl_c(fake, tmp_path):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    jianxue("bot", "allow", "--channel", "dingtalk", "staff01", "--dept", "刑事检察部", data_dir=data)
    fake.directory["staff01"] = [932988755, 1]
    robot = subprocess.Popen([sys.executable, "-m", "assistant", "bot", "dingtalk"], cwd=REPO,
                             env=environment(fake, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fake.connected(timeout=60)
        message = fake.message("staff01", "正当防卫的限度怎么认定")
        assert fake.ack(message["_messageId"])["code"] == 200
        answer = fake.wait_outbox("staff01", timeout=60)[0]
        assert "[1]" in answer["text"] and answer["path"] == "/robot/sendBySession"
        since = fake.mark()
        fake.message("staff66", "正当防卫的限度怎么认定")
        assert fake.wait_outbox("staff66", since=since)[0]["text"] == texts.NOT_ADMITTED
        robot.send_signal(signal.SIGINT)
        _out, err = robot.communicate(timeout=60)
    finally:
        if robot.poll() is None:
            robot.kill()
    assert robot.returncode == 0, err
    assert "Traceback" not in err and fake.client_secret not in err
    assert fake.sent("/topapi/v2/user/get")[-1]["body"]["userid"] == "staff66"  # departments read for each sender


def test_a_missing_or_refused_setting_is_named(fake, tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in environment(fake, data).items() if not k.startswith("JIANXUE_DINGTALK__")}
    missing = jianxue("bot", "dingtalk", data_dir=data, check=False, env={"JIANXUE_DINGTALK__CLIENT_ID": "dingx"})
    assert missing.returncode == 1 and "JIANXUE_DINGTALK__CLIENT_SECRET" in missing.stderr
    assert "JIANXUE_DINGTALK__CLIENT_ID" not in missing.stderr and "Traceback" not in missing.stderr
    refused = subprocess.run([sys.executable, "-m", "assistant", "bot", "dingtalk"], cwd=REPO, capture_output=True,
                             text=True, timeout=120, check=False, env=env | {
                                 f"JIANXUE_DINGTALK__{k.upper()}": str(v)
                                 for k, v in fake.settings(client_secret="not-the-secret").items()})
    assert refused.returncode == 1
    assert "DingTalk refused JIANXUE_DINGTALK__CLIENT_ID / __CLIENT_SECRET" in refused.stderr
    assert "Traceback" not in refused.stderr and "not-the-secret" not in refused.stderr
