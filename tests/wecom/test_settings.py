"""JIANXUE_WECOM__*: defaults, the checks the values get, and secrets never shown."""

from __future__ import annotations

import json

import pytest

from assistant.config import load_settings, masked_settings
from assistant.errors import ConfigError
from bots.wecom.app import check_settings

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_defaults_point_at_wecoms_public_api_and_the_callback_path():
    wecom = load_settings().wecom
    assert (wecom.api_base_url, wecom.path, wecom.listen, wecom.nudge_hours) == (
        "https://qyapi.weixin.qq.com", "/wecom", "127.0.0.1", 24)


def test_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("JIANXUE_WECOM__API_BASE_URL", "https://zwwx.example.gov.cn/api/")
    monkeypatch.setenv("JIANXUE_WECOM__AGENT_ID", "1000002")
    monkeypatch.setenv("JIANXUE_WECOM__NUDGE_HOURS", "0")
    wecom = load_settings().wecom
    assert wecom.api_base_url == "https://zwwx.example.gov.cn/api" and wecom.agent_id == 1000002
    assert wecom.nudge_hours == 0


@pytest.mark.parametrize("field, value, message", [("path", "wecom", "starts with '/'"),
                                                    ("api_base_url", "qyapi.weixin.qq.com", "http:// or https://")])
def test_bad_values_say_what_is_wrong(field, value, message):
    with pytest.raises(ConfigError, match=f"JIANXUE_WECOM__{field.upper()}.*{message}"):
        load_settings(wecom={field: value})


def test_secrets_are_masked():
    settings = load_settings(wecom={"secret": "app-secret-xyz", "token": "cb-token-xyz", "aes_key": AES_KEY,
                                    "api_base_url": "https://user:pw@zwwx.example.gov.cn"})
    shown = json.dumps(masked_settings(settings))
    for secret in ("app-secret-xyz", "cb-token-xyz", AES_KEY, ":pw@"):
        assert secret not in shown


def test_every_required_value_is_named_when_missing():
    with pytest.raises(ConfigError) as raised:
        check_settings(load_settings(wecom={"agent_id": 5, "token": "t"}).wecom)
    assert str(raised.value).startswith("set JIANXUE_WECOM__CORP_ID, JIANXUE_WECOM__SECRET, JIANXUE_WECOM__AES_KEY:")
    check_settings(load_settings(wecom={"corp_id": "ww1", "agent_id": 5, "secret": "s", "token": "t",
                                        "aes_key": AES_KEY}).wecom)  # all there: no error


def test_an_aes_key_that_is_not_the_consoles_43_characters_is_refused():
    with pytest.raises(ConfigError, match="43-character EncodingAESKey"):
        check_settings(load_settings(wecom={"corp_id": "ww1", "agent_id": 5, "secret": "s", "token": "t",
                                            "aes_key": "too-short"}).wecom)
