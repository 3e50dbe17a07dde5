"""Settings.dingtalk: read from JIANXUE_DINGTALK__*, the secret masked, a missing value named."""

from __future__ import annotations

import json

import pytest

from assistant.config import load_settings, masked_settings, setting_names, unknown_variables
from assistant.errors import ConfigError


def test_the_section_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("JIANXUE_DINGTALK__CLIENT_ID", "dingabc")
    monkeypatch.setenv("JIANXUE_DINGTALK__CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("JIANXUE_DINGTALK__ENDPOINT", "https://dingtalk.gov.example/api/")
    monkeypatch.setenv("JIANXUE_DINGTALK__NUDGE_HOURS", "0")
    dingtalk = load_settings().dingtalk
    assert (dingtalk.client_id, dingtalk.client_secret.get_secret_value()) == ("dingabc", "s3cret-value")
    assert dingtalk.endpoint == "https://dingtalk.gov.example/api" and dingtalk.nudge_hours == 0
    assert dingtalk.robot == "dingabc" and dingtalk.oapi_endpoint == "https://oapi.dingtalk.com"
    dingtalk.check()


def test_every_field_has_a_default_and_a_description():
    dingtalk = load_settings().dingtalk
    for name, field in type(dingtalk).model_fields.items():
        assert field.description, name
        assert f"JIANXUE_DINGTALK__{name.upper()}" in setting_names()
    assert unknown_variables({"JIANXUE_DINGTALK_CLIENT_ID": "x"}) == [
        "JIANXUE_DINGTALK_CLIENT_ID is not a setting (did you mean JIANXUE_DINGTALK__CLIENT_ID?)"]


def test_the_client_secret_is_masked():
    settings = load_settings(dingtalk={"client_id": "dingabc", "client_secret": "s3cret-value"})
    shown = masked_settings(settings)
    assert shown["dingtalk"]["client_secret"] == "***" and "s3cret-value" not in json.dumps(shown)
    assert shown["dingtalk"]["client_id"] == "dingabc"


@pytest.mark.parametrize(("values", "named", "not_named"), [
    ({}, ["JIANXUE_DINGTALK__CLIENT_ID", "JIANXUE_DINGTALK__CLIENT_SECRET"], []),
    ({"client_id": "dingabc"}, ["JIANXUE_DINGTALK__CLIENT_SECRET"], ["JIANXUE_DINGTALK__CLIENT_ID"]),
    ({"client_id": " ", "client_secret": "s"}, ["JIANXUE_DINGTALK__CLIENT_ID"], ["JIANXUE_DINGTALK__CLIENT_SECRET"]),
])
def test_a_missing_credential_is_named(values, named, not_named):
    with pytest.raises(ConfigError) as caught:
        load_settings(dingtalk=values).dingtalk.check()
    assert all(n in str(caught.value) for n in named) and not any(n in str(caught.value) for n in not_named)


def test_an_address_without_a_scheme_is_refused():
    with pytest.raises(ConfigError, match="JIANXUE_DINGTALK__ENDPOINT"):
        load_settings(dingtalk={"endpoint": "api.dingtalk.com"})
