"""schemathesis against the user API's own OpenAPI document, over a real server: no server error,
no undocumented status code or content type, every body matches its schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from identity_service.storage.base import Store
from tests.userapi_support import UserApi, running_user_api


@pytest.fixture
def user_api_for_schema(tmp_path: Path, store: Store) -> Iterator[UserApi]:
    """On SQLite and on PostgreSQL: some inputs only fail on one (PostgreSQL refuses NUL in text)."""
    # A generous rate limit: this test measures conformance, not the limiter.
    with running_user_api(tmp_path, store=store, user_api_rate_burst=100_000,
                          user_api_auth_failure_burst=100_000) as running:
        yield running


@schemathesis.serializer("video/webm", "video/mp4", "video/quicktime")
def recording_bytes(_context: object, value: object) -> bytes:
    """The recording route's body is the file itself: generated binary goes out as it is."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_user_api_conforms_to_its_openapi_document(user_api_for_schema: UserApi) -> None:
    """Every operation of the served document, a bounded number of generated requests each.
    (Driven through hypothesis directly: schemathesis's pytest plugin does not run on pytest 9.)"""
    api = user_api_for_schema
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case: schemathesis.Case) -> None:
            # Mostly act on one's own data (the interesting paths); cross-user access has its own tests.
            params = case.path_parameters
            if params and params.get("subject_id") not in (None, "me"):
                params["subject_id"] = "me" if len(params["subject_id"]) % 4 else "alice"
            case.call_and_validate(headers={"authorization": f"Bearer {api.issuer.token('alice')}"}, checks=CHECKS)

        try:
            run()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def test_the_schema_fixture_points_at_a_real_server(user_api_for_schema: UserApi, tmp_path: Path) -> None:
    import httpx

    document = httpx.get(f"{user_api_for_schema.base_url}/openapi.json").json()
    assert document["openapi"].startswith("3.") and len(document["paths"]) >= 8
