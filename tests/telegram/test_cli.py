"""`jianxue bot ...` as an operator runs it: subprocesses with settings from the environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import ALICE
from tests.test_cli import jianxue


@pytest.mark.slow
def test_allow_pair_list_and_remove(tmp_path):
    data = tmp_path / "data"
    jianxue("bot", "allow", "4711", "--role", "trainer", "--dept", "第一检察部", "--user", "wang", data_dir=data)
    pairing = json.loads(jianxue("bot", "pair", "--dept", "第二检察部", "--hours", "2", "--json", data_dir=data).stdout)
    assert len(pairing["code"]) == 10 and pairing["hours"] == 2
    members = json.loads(jianxue("bot", "members", "--json", data_dir=data).stdout)
    assert members == [{"channel": "telegram", "platform_id": "4711", "user": "wang", "role": "trainer",
                        "departments": ["第一检察部"], "line": None}]
    jianxue("bot", "remove", "4711", data_dir=data)
    again = jianxue("bot", "remove", "4711", data_dir=data, check=False)
    assert again.returncode == 1 and "not a member" in again.stderr and "Traceback" not in again.stderr
    wrong = jianxue("bot", "allow", "1", "--role", "boss", data_dir=data, check=False)
    assert wrong.returncode == 1 and "role must be one of" in wrong.stderr


@pytest.mark.slow
def test_running_without_a_token_says_what_to_set(tmp_path):
    done = jianxue("bot", "telegram", data_dir=tmp_path / "data", check=False)
    assert done.returncode == 1 and "JIANXUE_TELEGRAM__TOKEN" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_bot_command_answers_and_stops_on_ctrl_c(tmp_path):
    from tests.conftest import CORPUS

    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    jianxue("bot", "allow", str(ALICE), data_dir=data)
    fake = FakeBotAPI().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    env.update(JIANXUE_DATA_DIR=str(data), JIANXUE_EMBEDDER__NAME="hash-64", JIANXUE_ANSWER__MIN_SUPPORT="0.2",
               JIANXUE_TELEGRAM__TOKEN=fake.token, JIANXUE_TELEGRAM__BASE_URL=fake.base_url)
    bot = subprocess.Popen([sys.executable, "-m", "assistant", "bot", "telegram"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        fake.wait_for("setMyCommands", timeout=60)
        fake.message(ALICE, "正当防卫的限度怎么认定")
        answer = fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == ALICE, timeout=60)[0]
        assert "[1]" in answer["text"]
        bot.send_signal(signal.SIGINT)
        _out, err = bot.communicate(timeout=60)
        assert bot.returncode == 0 and "Traceback" not in err
        assert fake.token not in err  # the token is in every request URL: never logged
    finally:
        if bot.poll() is None:
            bot.kill()
        fake.stop()
