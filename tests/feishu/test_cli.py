"""`jianxue bot feishu` as an operator runs it: `python -m assistant bot feishu` as a process of its
own, configured only by JIANXUE_* variables, reached as Feishu reaches it (a signed, encrypted event
on the request URL, or a frame on the long connection), answering only through the fake's API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from assistant.conversation import texts
from tests.conftest import CORPUS, REPO
from tests.feishu.conftest import ZHANG
from tests.feishu.test_app import text_of
from tests.servers import free_port, stop_all
from tests.test_cli import jianxue

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # subprocesses


def environment(fake, data, **feishu) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    env |= {f"JIANXUE_FEISHU__{k.upper()}": str(v) for k, v in (fake.settings() | feishu).items()}
    return env | {"JIANXUE_DATA_DIR": str(data), "JIANXUE_EMBEDDER__NAME": "hash-64",
                  "JIANXUE_ANSWER__MIN_SUPPORT": "0.2",
                  "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def test_running_without_the_applications_values_names_each_missing_setting(tmp_path):
    done = jianxue("bot", "feishu", data_dir=tmp_path / "data", check=False, env={"JIANXUE_FEISHU__APP_ID": "cli_a"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for name in ("JIANXUE_FEISHU__APP_SECRET", "JIANXUE_FEISHU__ENCRYPT_KEY", "JIANXUE_FEISHU__VERIFICATION_TOKEN"):
        assert name in done.stderr
    assert "JIANXUE_FEISHU__APP_ID" not in done.stderr


@pytest.mark.parametrize("mode", ["webhook", "ws"])
def test_the_bot_process_answers_through_the_fake_and_stops_on_ctrl_c(fake, tmp_path, mode):
    data = tmp_path / "data"
    jianxue("ingest", str(CORPUS / "cases"), data_dir=data)
    jianxue("bot", "allow", "--channel", "feishu", ZHANG, "--dept", "刑事检察部", data_dir=data)
    port = free_port()
    bot = subprocess.Popen([sys.executable, "-m", "assistant", "bot", "feishu"], cwd=REPO,
                           env=environment(fake, data, mode=mode, port=port, path="/lark/events"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/lark/events"
    try:
        if mode == "ws":
            fake.connected(timeout=90)
            send = fake.push
        else:
            deadline = time.monotonic() + 90
            while True:  # up when the URL verification passes
                try:
                    if fake.verify_url(url)[1].status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert bot.poll() is None and time.monotonic() < deadline, bot.stderr.read() if bot.stderr else ""
                time.sleep(0.2)
            send = lambda event: fake.post(url, event)  # noqa: E731
        send(fake.message(ZHANG, "正当防卫的限度怎么认定"))
        messages = fake.wait_outbox(ZHANG, lambda m: m["msg_type"] == "interactive", timeout=60)
        shown = "\n".join(text_of(m) for m in fake.outbox(ZHANG))
        assert "[1]" in shown and "来源：[1] " in shown and messages
        bot.send_signal(signal.SIGINT)
        _, err = bot.communicate(timeout=60)
        assert bot.returncode == 0 and "Traceback" not in err
        assert fake.app_secret not in err and fake.encrypt_key not in err and fake.verification_token not in err
        if mode == "ws":
            assert fake.open_connections() == 0
    finally:
        stop_all([bot])


def test_a_stranger_hears_the_refusal_from_the_process(fake, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    bot = subprocess.Popen([sys.executable, "-m", "assistant", "bot", "feishu"], cwd=REPO,
                           env=environment(fake, data, mode="ws", port=port),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fake.connected(timeout=90)
        fake.push(fake.message(ZHANG, "正当防卫"))
        assert text_of(fake.wait_outbox(ZHANG, timeout=60)[0]) == texts.NOT_ADMITTED
    finally:
        stop_all([bot])


@pytest.mark.parametrize("mode", ["webhook", "ws"])
def test_a_secret_feishu_refuses_stops_the_bot_with_that_said(fake, tmp_path, mode):
    done = subprocess.run([sys.executable, "-m", "assistant", "bot", "feishu"], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env=environment(fake, tmp_path / "data", mode=mode, port=free_port(), app_secret="s3cr3t-7Qz"))
    assert done.returncode != 0 and "JIANXUE_FEISHU__APP_ID / __APP_SECRET" in done.stderr
    assert "Traceback" not in done.stderr and "s3cr3t-7Qz" not in done.stderr
