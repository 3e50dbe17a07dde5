"""JIANXUE_FEISHU__*: defaults, the environment, bad values, secrets masked, what is missing named."""

from __future__ import annotations

import pytest

from assistant.config import FeishuSettings, load_settings, masked_settings
from assistant.errors import ConfigError


def test_defaults_are_feishus_public_platform_by_webhook():
    feishu = FeishuSettings()
    assert feishu.mode == "webhook" and feishu.base_url == "https://open.feishu.cn" and feishu.path == "/feishu"
    assert FeishuSettings(domain="Lark").base_url == "https://open.larksuite.com"
    assert FeishuSettings(domain="https://open.example.gov.cn/").base_url == "https://open.example.gov.cn"


def test_read_from_the_environment(monkeypatch, tmp_path):
    for name, value in {"APP_ID": "cli_a1", "APP_SECRET": "s", "DOMAIN": "lark", "MODE": "ws", "ENCRYPT_KEY": "k",
                        "VERIFICATION_TOKEN": "v", "PORT": "9000", "PATH": "/lark/events", "NUDGE_HOURS": "0"}.items():
        monkeypatch.setenv(f"JIANXUE_FEISHU__{name}", value)
    feishu = load_settings(data_dir=tmp_path).feishu
    assert (feishu.app_id, feishu.mode, feishu.port, feishu.path, feishu.nudge_hours) == ("cli_a1", "ws", 9000,
                                                                                         "/lark/events", 0)
    assert feishu.base_url == "https://open.larksuite.com" and feishu.encrypt_key.get_secret_value() == "k"


@pytest.mark.parametrize("field, value", [("domain", "open.feishu.cn"), ("mode", "poll"), ("path", "feishu"),
                                          ("port", 0)])
def test_bad_values_say_what_is_wrong(field, value, tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(data_dir=tmp_path, feishu={field: value})
    assert f"JIANXUE_FEISHU__{field.upper()}" in str(error.value)


def test_secrets_are_masked(tmp_path):
    settings = load_settings(data_dir=tmp_path, feishu={"app_id": "cli_a", "app_secret": "s3cret",
                                                        "encrypt_key": "k3y", "verification_token": "t0ken"})
    shown = str(masked_settings(settings)["feishu"])
    assert "s3cret" not in shown and "k3y" not in shown and "t0ken" not in shown and "cli_a" in shown


def test_every_required_value_is_named_when_missing():
    with pytest.raises(ConfigError) as webhook:
        FeishuSettings(app_id="cli_a").check()
    named = str(webhook.value)
    assert all(f"JIANXUE_FEISHU__{n}" in named for n in ("APP_SECRET", "ENCRYPT_KEY", "VERIFICATION_TOKEN"))
    with pytest.raises(ConfigError) as ws:
        FeishuSettings(mode="ws").check()
    assert "APP_ID" in str(ws.value) and "ENCRYPT_KEY" not in str(ws.value)  # the long connection needs no keys
    FeishuSettings(mode="ws", app_id="cli_a", app_secret="s").check()
