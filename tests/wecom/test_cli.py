"""`jianxue bot wecom` as an operator runs it, configured from the environment."""

from __future__ import annotations

import pytest

from tests.servers import free_port
from tests.test_cli import jianxue

pytestmark = pytest.mark.slow  # subprocesses


def test_running_without_the_applications_values_names_each_missing_setting(tmp_path):
    done = jianxue("bot", "wecom", data_dir=tmp_path / "data", check=False,
                   env={"JIANXUE_WECOM__CORP_ID": "wwcorp", "JIANXUE_WECOM__SECRET": "s"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for name in ("JIANXUE_WECOM__AGENT_ID", "JIANXUE_WECOM__TOKEN", "JIANXUE_WECOM__AES_KEY"):
        assert name in done.stderr
    assert "JIANXUE_WECOM__CORP_ID" not in done.stderr and "JIANXUE_WECOM__SECRET" not in done.stderr


def test_a_database_that_cannot_be_reached_is_reported_before_anything_is_served(tmp_path):
    settings = {"JIANXUE_WECOM__CORP_ID": "wwcorp", "JIANXUE_WECOM__AGENT_ID": "1000002", "JIANXUE_WECOM__SECRET": "s",
                "JIANXUE_WECOM__TOKEN": "t", "JIANXUE_WECOM__AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                "JIANXUE_WECOM__PORT": str(free_port()),
                "JIANXUE_DATABASE__URL": f"postgresql+psycopg://jianxue@127.0.0.1:{free_port()}/jianxue"}
    done = jianxue("bot", "wecom", data_dir=tmp_path / "data", check=False, env=settings)
    assert done.returncode == 1 and "cannot be reached" in done.stderr and "Traceback" not in done.stderr
