"""Schemathesis against the app's own OpenAPI schema, over real HTTP: whatever a client sends
that the schema describes (and the variations schemathesis derives from it), the answer is
never a 5xx.

Schemathesis' pytest plugin (``from_fixture``) does not run on pytest 9, so each API
operation's strategy is driven by Hypothesis here directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.http.conftest import serve


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("schema"), http={"rate_per_minute": 1_000_000, "burst": 1_000_000})


def operations(server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 15, "the schema lost operations"
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("who", "examples"), [("trainer_crim", 25), ("crim", 10)])
def test_no_request_gets_a_server_error(fuzzed, who, examples):
    headers = {"Authorization": f"Bearer {fuzzed.keys[who]}"}
    for operation in operations(fuzzed):

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()
