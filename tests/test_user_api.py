"""The user-facing HTTP API over a real server: tokens, ownership, policy, grants, blocks, uses,
erasure, export, problem details and rate limits."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from identity_service.storage.sql import SqlStore
from likeness.audit.v1 import audit_service_pb2 as apb
from likeness.audit.v1 import audit_service_pb2_grpc as agrpc
from likeness.common.v1 import common_pb2
from likeness.consent.v1 import consent_service_pb2 as cpb
from likeness.consent.v1 import consent_service_pb2_grpc as crpc
from likeness.identity.v1 import identity_service_pb2 as ipb
from likeness.identity.v1 import identity_service_pb2_grpc as irpc
from tests.userapi_support import AUDIENCE, ISSUER, AppTokenIssuer, UserApi, running_user_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[UserApi]:
    with running_user_api(tmp_path) as running:
        yield running


def check(api: UserApi, owner: str, requester: str) -> cpb.CheckCameoPermissionResponse:
    return crpc.ConsentServiceStub(api.grpc.channel).CheckCameoPermission(
        cpb.CheckCameoPermissionRequest(owner_id=owner, requester_id=requester, purpose="birthday video"),
        metadata=api.grpc.metadata("generator"), timeout=5,
    )


def enroll_pending(api: UserApi, subject: str) -> None:
    irpc.IdentityServiceStub(api.grpc.channel).StartEnrollment(
        ipb.StartEnrollmentRequest(subject_id=subject), metadata=api.grpc.metadata("app"), timeout=5)


def assert_problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["reason"] == reason
    assert body["type"].startswith("https://likeness.example.com/problems/")
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- the flow the issue asks for ------------------------------------------------------------


def _revocation_flow(api: UserApi) -> None:
    with api.client("alice") as alice:
        policy = alice.get("/v1/subjects/me/cameo-policy")
        assert policy.status_code == 200 and policy.json()["audience"] == "nobody"
        put = alice.put("/v1/subjects/me/cameo-policy", json={"audience": "approved"},
                        headers={"if-match": policy.headers["etag"]})
        assert put.status_code == 200, put.text
        assert check(api, "alice", "bob").decision == cpb.PERMISSION_DECISION_DENY
        created = alice.post("/v1/subjects/me/grants", json={"grantee_id": "bob"})
        assert created.status_code == 201, created.text
        grant = created.json()
        assert created.headers["location"] == f"/v1/subjects/alice/grants/{grant['grant_id']}"
        allowed = check(api, "alice", "bob")
        assert allowed.decision == cpb.PERMISSION_DECISION_ALLOW and allowed.grant == grant["name"]
        revoked = alice.post(f"/v1/subjects/alice/grants/{grant['grant_id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        # The very next gRPC check sees the revocation made over HTTP.
        denied = check(api, "alice", "bob")
        assert denied.decision == cpb.PERMISSION_DECISION_DENY
        assert denied.deny_reason == cpb.DENY_REASON_NOT_APPROVED
        again = alice.post(f"/v1/subjects/alice/grants/{grant['grant_id']}/revoke")
        assert_problem(again, 409, "ERROR_REASON_GRANT_NOT_ACTIVE")
        # The revocation is in the feed offline verifiers read.
        feed = crpc.ConsentServiceStub(api.grpc.channel).ListRevocations(
            cpb.ListRevocationsRequest(), metadata=api.grpc.metadata("generator"), timeout=5)
        assert grant["name"] in [r.grant for r in feed.revocations]
        # And the uses list shows both checks, newest first, with the token id of the allowed one.
        uses = alice.get("/v1/subjects/me/uses").json()["uses"]
        assert [u["decision"] for u in uses[:3]] == ["deny", "allow", "deny"]
        assert uses[1]["token_id"] == allowed.token_id and uses[1]["requester_id"] == "bob"
        assert uses[1]["service"] == "svc-generator" and uses[1]["purpose"] == "birthday video"
        assert uses[0]["token_id"] == "" and uses[0]["deny_reason"] == "not_approved"


def test_a_revocation_made_here_denies_the_next_grpc_check(api: UserApi) -> None:
    _revocation_flow(api)


@pytest.mark.postgres
def test_the_revocation_flow_on_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from tests.conftest import _postgres_store

    stores = _postgres_store()
    store: SqlStore = next(stores)
    try:
        with running_user_api(tmp_path, store=store) as running:
            _revocation_flow(running)
    finally:
        stores.close()


def test_a_block_made_here_wins_over_a_public_policy(api: UserApi) -> None:
    with api.client("alice") as alice:
        assert alice.put("/v1/subjects/me/cameo-policy", json={"audience": "public"}).status_code == 200
        assert check(api, "alice", "mallory").decision == cpb.PERMISSION_DECISION_ALLOW
        blocked = alice.put("/v1/subjects/me/blocks/mallory")
        assert blocked.status_code == 200 and blocked.json() == {"blocked_ids": ["mallory"]}
        assert check(api, "alice", "mallory").deny_reason == cpb.DENY_REASON_BLOCKED
        # Blocks survive a policy replacement, and a repeated block is idempotent.
        assert alice.put("/v1/subjects/me/cameo-policy", json={"audience": "public"}).json()["blocked_ids"] == [
            "mallory"]
        assert alice.put("/v1/subjects/me/blocks/mallory").json() == {"blocked_ids": ["mallory"]}
        assert alice.get("/v1/subjects/me/blocks").json() == {"blocked_ids": ["mallory"]}
        assert alice.delete("/v1/subjects/me/blocks/mallory").json() == {"blocked_ids": []}
        assert check(api, "alice", "mallory").decision == cpb.PERMISSION_DECISION_ALLOW
        assert_problem(alice.put("/v1/subjects/me/blocks/alice"), 400, "ERROR_REASON_FIELD_INVALID")


def test_policy_update_with_a_stale_etag_is_refused(api: UserApi) -> None:
    with api.client("alice") as alice:
        first = alice.get("/v1/subjects/me/cameo-policy")
        assert first.headers["etag"] == '"0"'
        assert alice.put("/v1/subjects/me/cameo-policy", json={"audience": "friends"}).status_code == 200
        stale = alice.put("/v1/subjects/me/cameo-policy", json={"audience": "public"},
                          headers={"if-match": first.headers["etag"]})
        assert_problem(stale, 412, "ERROR_REASON_POLICY_CONFLICT")
        assert alice.get("/v1/subjects/me/cameo-policy").json()["audience"] == "friends"
        full = alice.put("/v1/subjects/me/cameo-policy", json={
            "audience": "friends", "refused_categories": ["political", "sexual"], "instructions": "be kind",
            "public_figure": True})
        body = full.json()
        assert body["refused_categories"] == ["political", "sexual"] and body["public_figure"] is True
        assert full.headers["etag"] == f'"{body["etag"]}"'


# --- authentication -------------------------------------------------------------------------


def bad_tokens(api: UserApi) -> dict[str, str]:
    stranger = AppTokenIssuer(kid="app-key-1")  # same kid, another key
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = api.issuer.token("alice")
    head, payload, signature = good.split(".")
    forged_claims = json.loads(jwt.utils.base64url_decode(payload))
    forged_claims["sub"] = "bob"
    forged = ".".join([head, jwt.utils.base64url_encode(json.dumps(forged_claims).encode()).decode(), signature])
    return {
        "expired": api.issuer.token("alice", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "not yet valid": api.issuer.token("alice", nbf=int(time.time()) + 3600),
        "wrong audience": api.issuer.token("alice", aud="another-api"),
        "wrong issuer": api.issuer.token("alice", iss="https://evil.example"),
        "no exp": api.issuer.token("alice", exp=None),
        "no sub": api.issuer.token("alice", sub=None),
        "invalid sub": api.issuer.token("alice", sub="alice/../bob"),
        "unknown key": stranger.token("alice"),
        "tampered claims": forged,
        "alg none": jwt.encode({"sub": "alice", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60},
                               None, algorithm="none"),
        "hmac with the public key": jwt.api_jws.PyJWS().encode(
            json.dumps({"sub": "alice", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}).encode(),
            b"x" * 32, algorithm="HS256"),
        "rsa key not in jwks": jwt.encode({"sub": "alice", "aud": AUDIENCE, "iss": ISSUER,
                                           "exp": int(time.time()) + 60}, rsa_key, algorithm="RS256"),
        "truncated": good[: len(good) // 2],
        "garbage": "not-a-jwt",
        # 'me' is the path alias for the caller; '.' and '..' resolve in a URL.
        "sub me": api.issuer.token("me"),
        "sub dot": api.issuer.token("."),
        "sub dot dot": api.issuer.token(".."),
        # The same signature spelled another way: padding, or stray bits in the last character.
        "padded signature": f"{head}.{payload}.{signature}==",
        "non-canonical signature": f"{head}.{payload}.{signature[:-1]}{_sibling(signature[-1])}",
        "a token good for 30,000 years": api.issuer.token("alice", ttl=30_000 * 365 * 86_400),
        "a token good for two days": api.issuer.token("alice", ttl=2 * 86_400),
    }


def _sibling(last: str) -> str:
    """Another base64url character with the same high bits: the same bytes once decoded, when the
    character's low bits are unused (an Ed25519 signature's last character carries 4 bits)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(last)
    return alphabet[index ^ 1]


def test_every_kind_of_bad_token_is_refused_with_401(tmp_path: Path) -> None:
    with running_user_api(tmp_path, user_api_auth_failure_burst=100) as api:
        _every_bad_token_refused(api)


def _every_bad_token_refused(api: UserApi) -> None:
    for kind, token in bad_tokens(api).items():
        with httpx.Client(base_url=api.base_url, headers={"authorization": f"Bearer {token}"}) as client:
            response = client.get("/v1/subjects/me/cameo-policy")
        body = assert_problem(response, 401, "ERROR_REASON_USER_TOKEN_INVALID")
        assert response.headers["www-authenticate"].startswith("Bearer"), kind
        assert body["metadata"]["problem"], kind
    with httpx.Client(base_url=api.base_url) as anonymous:
        assert_problem(anonymous.get("/v1/subjects/me/cameo-policy"), 401, "ERROR_REASON_USER_TOKEN_INVALID")
        basic = anonymous.get("/v1/subjects/me/cameo-policy", headers={"authorization": "Basic YWxpY2U6eA=="})
        assert_problem(basic, 401, "ERROR_REASON_USER_TOKEN_INVALID")


def test_refused_tokens_are_audited_without_the_token(api: UserApi) -> None:
    token = api.issuer.token("alice", aud="another-api")
    with httpx.Client(base_url=api.base_url, headers={"authorization": f"Bearer {token}"}) as client:
        client.get("/v1/subjects/me/uses")
    events = agrpc.AuditServiceStub(api.grpc.channel).ListEvents(
        apb.ListEventsRequest(action="auth.caller.refused"), metadata=api.grpc.metadata("auditor"), timeout=5)
    assert events.events, "refusal not audited"
    dumped = str(events)
    assert "wrong audience" in dumped and token not in dumped and token.split(".")[2] not in dumped


def test_a_pem_public_key_works_instead_of_a_jwks(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    pem = tmp_path / "app.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    with running_user_api(tmp_path, user_token_public_key_file=pem, user_token_jwks_file=None) as running:
        token = jwt.encode({"sub": "carol", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 60}, key,
                           algorithm="EdDSA")
        with httpx.Client(base_url=running.base_url, headers={"authorization": f"Bearer {token}"}) as carol:
            assert carol.get("/v1/subjects/me/cameo-policy").json()["subject_id"] == "carol"
        with running.client("carol") as wrong_key:  # signed by the JWKS issuer, which is not configured here
            assert_problem(wrong_key.get("/v1/subjects/me/cameo-policy"), 401, "ERROR_REASON_USER_TOKEN_INVALID")


# --- ownership ------------------------------------------------------------------------------


def operations(api: UserApi) -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI document lists under a subject: new routes are covered too."""
    with httpx.Client(base_url=api.base_url) as client:
        document = client.get("/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method in item:
            if "{subject_id}" in path:
                found.append((method.upper(), path))
    return found


def test_cross_user_access_is_refused_on_every_endpoint(api: UserApi) -> None:
    with api.client("bob") as bob:
        assert bob.put("/v1/subjects/me/cameo-policy", json={"audience": "public"}).status_code == 200
        bob_grant = bob.post("/v1/subjects/me/grants", json={"grantee_id": "carol"}).json()
    enroll_pending(api, "bob")
    listed = operations(api)
    assert len(listed) >= 11, listed
    bodies = {"/v1/subjects/{subject_id}/cameo-policy": {"audience": "public"},
              "/v1/subjects/{subject_id}/grants": {"grantee_id": "alice"}}
    with api.client("alice") as alice:
        for method, template in listed:
            path = (template.replace("{subject_id}", "bob").replace("{grant_id}", bob_grant["grant_id"])
                    .replace("{person_id}", "dave"))
            params = {"confirm": "bob"} if path.endswith("/enrollment") else None
            response = alice.request(method, path, json=bodies.get(template) if method in ("PUT", "POST") else None,
                                     params=params)
            body = assert_problem(response, 403, "ERROR_REASON_NOT_OWNER")
            assert body["metadata"] == {"subject_id": "bob"}, (method, path)
        # Through alice's own path, bob's grant simply does not exist for her.
        assert_problem(alice.get(f"/v1/subjects/me/grants/{bob_grant['grant_id']}"), 404,
                       "ERROR_REASON_GRANT_NOT_FOUND")
        assert_problem(alice.post(f"/v1/subjects/me/grants/{bob_grant['grant_id']}/revoke"), 404,
                       "ERROR_REASON_GRANT_NOT_FOUND")
        assert alice.get("/v1/subjects/me/grants").json()["grants"] == []
    with api.client("bob") as bob:  # nothing of bob's changed
        assert bob.get("/v1/subjects/me/cameo-policy").json()["audience"] == "public"
        assert bob.get(f"/v1/subjects/me/grants/{bob_grant['grant_id']}").json()["state"] == "active"
        assert bob.get("/v1/subjects/me/export").json()["enrollment"] is not None


def test_own_subject_id_and_me_are_the_same(api: UserApi) -> None:
    with api.client("alice") as alice:
        alice.put("/v1/subjects/alice/cameo-policy", json={"audience": "friends"})
        assert alice.get("/v1/subjects/me/cameo-policy").json()["audience"] == "friends"


# --- grants, uses, erasure, export ---------------------------------------------------------------


def test_grants_paginate_and_filter_by_state(api: UserApi) -> None:
    with api.client("alice") as alice:
        ids = [alice.post("/v1/subjects/me/grants", json={"grantee_id": f"friend{i}"}).json()["grant_id"]
               for i in range(5)]
        alice.post(f"/v1/subjects/me/grants/{ids[0]}/revoke")
        seen, token = [], ""
        while True:
            page = alice.get("/v1/subjects/me/grants", params={"page_size": 2, "page_token": token}).json()
            assert len(page["grants"]) <= 2
            seen += [g["grant_id"] for g in page["grants"]]
            token = page["next_page_token"]
            if not token:
                break
        assert sorted(seen) == sorted(ids)
        active = alice.get("/v1/subjects/me/grants", params={"state": "active"}).json()["grants"]
        assert sorted(g["grant_id"] for g in active) == sorted(ids[1:])
        first = alice.get("/v1/subjects/me/grants", params={"page_size": 2}).json()["next_page_token"]
        mixed = alice.get("/v1/subjects/me/grants", params={"page_token": first, "state": "revoked"})
        assert_problem(mixed, 400, "ERROR_REASON_PAGE_TOKEN_INVALID")
        assert_problem(alice.get("/v1/subjects/me/grants", params={"state": "sideways"}), 400,
                       "ERROR_REASON_FIELD_INVALID")


def test_approvals_validate_their_times_and_grantee(api: UserApi) -> None:
    with api.client("alice") as alice:
        past = alice.post("/v1/subjects/me/grants", json={"grantee_id": "bob", "end_time": "2001-01-01T00:00:00Z"})
        assert_problem(past, 400, "ERROR_REASON_FIELD_INVALID")
        naive = alice.post("/v1/subjects/me/grants", json={"grantee_id": "bob", "end_time": "2099-01-01T00:00:00"})
        assert assert_problem(naive, 400, "ERROR_REASON_FIELD_INVALID")["metadata"]["field"] == "end_time"
        myself = alice.post("/v1/subjects/me/grants", json={"grantee_id": "alice"})
        assert_problem(myself, 400, "ERROR_REASON_FIELD_INVALID")
        extra = alice.post("/v1/subjects/me/grants", json={"grantee_id": "bob", "audience": "public"})
        assert_problem(extra, 400, "ERROR_REASON_FIELD_INVALID")
        broken = alice.post("/v1/subjects/me/grants", content=b"{not json", headers={"content-type": "application/json"})
        assert_problem(broken, 400, "ERROR_REASON_FIELD_INVALID")
        window = alice.post("/v1/subjects/me/grants", json={
            "grantee_id": "bob", "start_time": "2099-01-01T00:00:00+00:00", "end_time": "2099-02-01T00:00:00+00:00"})
        assert window.status_code == 201 and window.json()["state"] == "active"


def test_erasure_needs_confirmation_and_is_audited(api: UserApi) -> None:
    enroll_pending(api, "alice")
    with api.client("alice") as alice:
        assert_problem(alice.delete("/v1/subjects/me/enrollment"), 400, "ERROR_REASON_CONFIRMATION_REQUIRED")
        assert_problem(alice.delete("/v1/subjects/me/enrollment", params={"confirm": "yes"}), 400,
                       "ERROR_REASON_CONFIRMATION_REQUIRED")
        assert alice.get("/v1/subjects/me/export").json()["enrollment"] is not None
        erased = alice.delete("/v1/subjects/me/enrollment", params={"confirm": "alice"})
        assert erased.status_code == 200 and erased.json()["erased"] is True
        assert alice.get("/v1/subjects/me/export").json()["enrollment"] is None
        again = alice.delete("/v1/subjects/me/enrollment", params={"confirm": "alice"})  # idempotent
        assert again.status_code == 200 and again.json()["templates_destroyed"] == 0
    stub = agrpc.AuditServiceStub(api.grpc.channel)
    events = stub.ListEvents(apb.ListEventsRequest(action="identity.subject.erase"),
                                  metadata=api.grpc.metadata("auditor"), timeout=5).events
    # Two erasures, both audited; the second redacted the first one's event (alice was its actor),
    # which keeps only its place in the log.
    assert [e.actor_id for e in events] == ["alice"]
    with api.grpc.app.store.read() as tx:
        assert tx.get_enrollment("alice") is None


def test_export_holds_my_data_and_never_a_template(api: UserApi) -> None:
    enroll_pending(api, "alice")
    with api.client("alice") as alice:
        alice.put("/v1/subjects/me/cameo-policy", json={"audience": "approved", "instructions": "no hats"})
        alice.post("/v1/subjects/me/grants", json={"grantee_id": "bob"})
        check(api, "alice", "bob")
        export = alice.get("/v1/subjects/me/export")
    assert export.status_code == 200
    body = export.json()
    assert body["subject_id"] == "alice" and body["cameo_policy"]["instructions"] == "no hats"
    assert [g["grantee_id"] for g in body["grants"]] == ["bob"]
    actions = [a["action"] for a in body["activity"]]
    assert "consent.permission.check" in actions and "identity.enrollment.start" in actions
    assert not re.search(r"template\"\s*:|embedding|ciphertext|nonce", export.text)


# --- errors and limits ----------------------------------------------------------------------


def test_rate_limit_per_user_answers_429_with_retry_after(tmp_path: Path) -> None:
    with running_user_api(tmp_path, user_api_rate_burst=3, user_api_rate_per_second=0.5) as running:
        with running.client("alice") as alice:
            statuses = [alice.get("/v1/subjects/me/blocks").status_code for _ in range(5)]
            assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
            limited = alice.get("/v1/subjects/me/blocks")
            body = assert_problem(limited, 429, "ERROR_REASON_RATE_LIMITED")
            assert int(limited.headers["retry-after"]) >= 1
            assert body["metadata"]["retry_after_seconds"] == limited.headers["retry-after"]
        with running.client("bob") as bob:  # another user has a bucket of their own
            assert bob.get("/v1/subjects/me/blocks").status_code == 200


def test_unknown_routes_and_methods_are_problems(api: UserApi) -> None:
    with api.client("alice") as alice:
        assert_problem(alice.get("/v1/nothing-here"), 404, "ERROR_REASON_ROUTE_NOT_FOUND")
        not_allowed = alice.patch("/v1/subjects/me/cameo-policy")
        assert_problem(not_allowed, 405, "ERROR_REASON_METHOD_NOT_ALLOWED")
        assert not_allowed.headers["allow"] == "GET, PUT"  # every method of the path, not the first route's
        assert_problem(alice.get("/v1/subjects/me/grants/XYZ"), 400, "ERROR_REASON_FIELD_INVALID")
        assert_problem(alice.get("/v1/subjects/me/grants", params={"page_size": -1}), 400,
                       "ERROR_REASON_FIELD_INVALID")


def test_request_id_is_echoed_and_health_needs_no_token(api: UserApi) -> None:
    with httpx.Client(base_url=api.base_url) as client:
        health = client.get("/healthz", headers={"x-request-id": "req-123"})
    assert health.status_code == 200 and health.json() == {"status": "serving"}
    assert health.headers["x-request-id"] == "req-123"


def test_reasons_are_values_of_the_error_reason_enum() -> None:
    import identity_service.userapi.app as module

    source = Path(module.__file__).read_text()
    names = set(common_pb2.ErrorReason.keys())
    for reason in re.findall(r"ERROR_REASON_[A-Z_]+", source):
        assert reason in names, reason


def test_the_openapi_document_documents_problems_and_security(api: UserApi) -> None:
    with httpx.Client(base_url=api.base_url) as client:
        document = client.get("/openapi.json").json()
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if path != "/healthz":
                for status in ("400", "401", "403", "429", "500"):
                    assert "application/problem+json" in responses[status]["content"], (method, path, status)


def test_the_docs_work_offline(api: UserApi) -> None:
    """Swagger UI's and ReDoc's files come from a package, not a CDN: /docs and /redoc work where
    no CDN is reachable."""
    import re

    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        for path, marker in (("/docs", "swagger-ui"), ("/redoc", "redoc")):
            page = client.get(path)
            assert page.status_code == 200 and marker in page.text, path
            assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
            assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], (path, assets)
            for asset in (a for a in assets if a.startswith("/")):
                loaded = client.get(asset)
                assert loaded.status_code == 200 and len(loaded.content) > 10_000, asset
            assert "/openapi.json" in page.text
        assert client.get("/openapi.json").status_code == 200
