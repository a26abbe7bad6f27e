"""The user API faces the internet: bodies are limited before they are read, tokens are checked
before bodies are parsed, and crafted values get a 4xx problem, never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity_service.storage.base import Store
from identity_service.validation import encode_page_token
from kernel.b64 import b64url
from tests.userapi_support import UserApi, running_user_api

POLICY = "/v1/subjects/me/cameo-policy"


@pytest.fixture
def api(tmp_path: Path, store: Store) -> Iterator[UserApi]:
    with running_user_api(tmp_path, store=store) as running:
        yield running


def problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["reason"] == reason, body
    return body


def raw_request(api: UserApi, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (and ``body``, perhaps less than it declares) and read the answer without
    sending the rest: a server that waited for the declared body would time out here."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while not _complete(answer):
            piece = conn.recv(65536)
            if not piece:
                break
            answer += piece
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return status, answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(api: UserApi) -> None:
    token = api.issuer.token("alice")
    status, answer = raw_request(api, f"PUT {POLICY} HTTP/1.1\nHost: x\nAuthorization: Bearer {token}\n"
                                      "Content-Type: application/json\nContent-Length: 200000000\n")
    assert status == 413 and b"ERROR_REASON_MESSAGE_TOO_LARGE" in answer


def test_a_request_without_a_token_is_refused_before_its_body_is_read(api: UserApi) -> None:
    # 1000 bytes declared (under the limit), none sent: the 401 must not wait for them.
    status, answer = raw_request(api, f"PUT {POLICY} HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                                      "Content-Length: 1000\n")
    assert status == 401 and b"ERROR_REASON_USER_TOKEN_INVALID" in answer


def test_a_chunked_body_is_cut_off_at_the_limit(api: UserApi) -> None:
    limit = api.grpc.app.settings.user_api_max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 4096 + 8):
            yield b" " * 4096

    with api.client("alice") as alice:
        response = alice.put(POLICY, content=chunks(), headers={"content-type": "application/json"})
    problem(response, 413, "ERROR_REASON_MESSAGE_TOO_LARGE")


def test_a_small_body_still_works_and_two_authorization_headers_are_refused(api: UserApi) -> None:
    with api.client("alice") as alice:
        assert alice.put(POLICY, json={"audience": "friends"}).status_code == 200
    first, second = api.issuer.token("alice"), api.issuer.token("bob")
    status, answer = raw_request(api, f"GET {POLICY} HTTP/1.1\nHost: x\nAuthorization: Bearer {first}\n"
                                      f"Authorization: Bearer {second}\n")
    assert status == 401 and b"exactly one Authorization header" in answer


def test_control_characters_in_instructions_are_a_400_on_every_backend(api: UserApi) -> None:
    with api.client("alice") as alice:
        for bad in ("hello\x00world", "bell\x07", "esc\x1b[31m"):
            body = problem(alice.put(POLICY, json={"audience": "friends", "instructions": bad}), 400,
                           "ERROR_REASON_FIELD_INVALID")
            assert body["metadata"]["field"] == "instructions"
        fine = alice.put(POLICY, json={"audience": "friends", "instructions": "line one\n\tline two"})
        assert fine.status_code == 200 and fine.json()["instructions"] == "line one\n\tline two"


def test_crafted_page_tokens_are_a_400_never_a_500(api: UserApi) -> None:
    filters: dict[str, object] = {"p": "alice", "d": ""}
    real = encode_page_token(5, filters)
    fingerprint = json.loads(__import__("base64").urlsafe_b64decode(real + "=" * (-len(real) % 4)))["f"]
    crafted = {
        "huge": b64url(json.dumps({"a": 10**30, "f": fingerprint}).encode()),
        "negative": b64url(json.dumps({"a": -1, "f": fingerprint}).encode()),
        "boolean": b64url(json.dumps({"a": True, "f": fingerprint}).encode()),
        "string": b64url(json.dumps({"a": "x" * 1000, "f": fingerprint}).encode()),
        "not json": b64url(b"\xff\xfe"),
        "not base64": "%%%",
    }
    with api.client("alice") as alice:
        for kind, token in crafted.items():
            response = alice.get("/v1/subjects/me/uses", params={"page_token": token})
            assert response.status_code == 400, (kind, response.text)
            assert response.json()["reason"] in {"ERROR_REASON_PAGE_TOKEN_INVALID", "ERROR_REASON_FIELD_INVALID"}
        assert alice.get("/v1/subjects/me/uses", params={"page_token": real}).status_code == 200


def test_the_uses_filter_takes_exactly_the_outcomes_a_use_can_have(api: UserApi) -> None:
    with api.client("alice") as alice:
        for decision in ("allow", "deny"):
            assert alice.get("/v1/subjects/me/uses", params={"decision": decision}).status_code == 200
        problem(alice.get("/v1/subjects/me/uses", params={"decision": "success"}), 400, "ERROR_REASON_FIELD_INVALID")
        document = alice.get("/openapi.json").json()
    parameters = document["paths"]["/v1/subjects/{subject_id}/uses"]["get"]["parameters"]
    decision_schema = json.dumps(next(p for p in parameters if p["name"] == "decision")["schema"])
    referenced = [name for name, schema in document["components"]["schemas"].items()
                  if f"#/components/schemas/{name}" in decision_schema]
    values = set().union(*(set(document["components"]["schemas"][n].get("enum", [])) for n in referenced))
    assert values == {"allow", "deny"}
