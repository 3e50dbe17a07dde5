"""`jianxue bot wecom` as an operator runs it: a separate process configured only through
JIANXUE_*, reached only the way WeCom reaches it (a signed, encrypted callback), answering only
through the fake WeCom's message-send API, with a model server that takes its time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fakes.openai_server import FakeOpenAI, passages_of
from tests.fakes.openai_server import Reply as OpenAIReply
from tests.servers import free_port, stop_all
from tests.test_cli import jianxue
from tests.wecom.conftest import ZHANG

pytestmark = [pytest.mark.slow, pytest.mark.integration]
MODEL_DELAY_S = 3.0


def start_process(fake, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}, **env,
           "JIANXUE_WECOM__CORP_ID": fake.corp_id, "JIANXUE_WECOM__AGENT_ID": str(fake.agent_id),
           "JIANXUE_WECOM__SECRET": fake.secret, "JIANXUE_WECOM__TOKEN": fake.callback_token,
           "JIANXUE_WECOM__AES_KEY": fake.aes_key, "JIANXUE_WECOM__API_BASE_URL": fake.base_url,
           "JIANXUE_WECOM__LISTEN": "127.0.0.1", "JIANXUE_WECOM__PORT": str(port), "JIANXUE_WECOM__PATH": "/wecom/cb"}
    process = subprocess.Popen([sys.executable, "-m", "assistant", "bot", "wecom"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/wecom/cb"
    deadline = time.monotonic() + 90
    while True:  # up when the URL check passes
        try:
            echo, answer = fake.sender.verify_url(url)
            if answer.status_code == 200 and answer.text == echo:
                return process, url
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_all([process])
            raise RuntimeError(f"`jianxue bot wecom` did not come up: {process.stderr.read() if process.stderr else ''}")
        time.sleep(0.2)


def test_a_question_signed_and_encrypted_as_wecom_does_is_answered_through_the_send_api(fake, data_dir):
    jianxue("bot", "allow", "--channel", "wecom", ZHANG, "--dept", "刑事检察部", "--user", "zhang", data_dir=data_dir)
    model = FakeOpenAI().start()
    model.default = OpenAIReply(lambda request: "".join(
        f"资料{n}指出：“{text}”[{n}]" for n, text in list(passages_of(request).items())[:2]), delay=MODEL_DELAY_S)
    process, url = start_process(fake, {
        "JIANXUE_DATA_DIR": str(data_dir), "JIANXUE_EMBEDDER__NAME": "hash-64", "JIANXUE_ANSWER__MIN_SUPPORT": "0.2",
        "JIANXUE_LLM__PROVIDER": "openai", "JIANXUE_LLM__BASE_URL": model.base_url, "JIANXUE_LLM__MODEL": "m",
        "JIANXUE_LLM__TIMEOUT_S": "30"})
    try:
        began = time.monotonic()
        answer = fake.deliver(url, fake.sender.text(ZHANG, "正当防卫的限度怎么认定"))
        took = time.monotonic() - began
        assert answer.status_code == 200 and answer.content == b"" and took < 1.0, f"answered after {took:.2f} s"
        deadline = time.monotonic() + 30
        while not model.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert model.requests and fake.sent("message/send") == []  # asked, and the model is still writing
        sent = fake.wait_for("message/send", lambda m: m["msgtype"] == "template_card", timeout=60)
        messages = fake.sent("message/send")
        shown = "\n".join(m["text"]["content"] if m["msgtype"] == "text" else m["template_card"].get("sub_title_text", "")
                          for m in messages)
        assert all(m["touser"] == ZHANG and m["agentid"] == fake.agent_id for m in messages)
        assert "[1]" in shown and "来源：[1] " in shown and "（" not in shown  # the model's answer, checked
        assert sent[0]["template_card"]["button_list"][0]["key"].startswith("src:")
        assert fake.deliver(url, fake.sender.text(ZHANG, "伪造"), signature="0" * 40).status_code == 403

        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0 and "Traceback" not in err
        assert fake.secret not in err and fake.aes_key not in err
    finally:
        stop_all([process])
        model.stop()
