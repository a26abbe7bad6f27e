"""Use tokens: a good token verifies offline from the JWKS; every kind of bad token is rejected."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import tokens
from consent.tokens import (
    RevocationList,
    TokenProblem,
    TokenRejected,
    UseClaims,
    issue_use_token,
    keys_from_jwks,
    new_claims,
    verify_use_token,
)
from identity_service.signing import Keyring, key_id

NOW = 1_790_000_000.0
ISSUER, AUDIENCE = "likeness-consent", "svc-video-gen"


@pytest.fixture(autouse=True, params=["libsodium", "cryptography"])
def signature_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every token test runs with both signature checkers: libsodium (PyNaCl), and the
    cryptography package that verifiers without PyNaCl fall back to."""
    if request.param == "cryptography":
        monkeypatch.setattr(tokens, "_SodiumVerifyKey", None)
    else:
        assert tokens._SodiumVerifyKey is not None  # PyNaCl is a dependency
    return str(request.param)


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys.json")


def claims(**overrides: object) -> UseClaims:
    base = new_claims(issuer=ISSUER, audience=AUDIENCE, owner="alice", requester="bob", ttl_seconds=300,
                      grant="subjects/alice/grants/00112233aabbccdd", purpose="remix", categories=["commercial"],
                      refused=["political"], instructions="no hats", now=NOW)
    return replace(base, **overrides)  # type: ignore[arg-type]


def verify(token: str, ring: Keyring, **kwargs: object) -> UseClaims:
    keys = keys_from_jwks(json.dumps(ring.jwks()))
    options: dict[str, object] = {"issuer": ISSUER, "audience": AUDIENCE, "now": NOW + 1}
    options.update(kwargs)
    return verify_use_token(token, keys, **options)  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(header: dict[str, object], body: dict[str, object], sign: Callable[[bytes], bytes]) -> str:
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def test_a_good_token_verifies_offline_with_every_claim(ring: Keyring) -> None:
    token = issue_use_token(ring.active(), claims())
    got = verify(token, ring, owner="alice", requester="bob", revocations=RevocationList())
    assert (got.sub, got.req, got.aud, got.grant, got.refused, got.instr) == (
        "alice", "bob", AUDIENCE, "subjects/alice/grants/00112233aabbccdd", ["political"], "no hats")
    assert got.exp - got.iat == 300 and len(got.jti) >= 16
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": ring.active().kid, "typ": "cameo-use+jwt"}


def _body(ring: Keyring) -> tuple[dict[str, object], dict[str, object]]:
    token = issue_use_token(ring.active(), claims())
    h, p, _ = token.split(".")
    return json.loads(base64.urlsafe_b64decode(h + "==")), json.loads(base64.urlsafe_b64decode(p + "=="))


BadCase = Callable[[Keyring, Path], tuple[str, dict[str, object]]]


def bad_signature(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    token = issue_use_token(ring.active(), claims())
    sig = bytearray(base64.urlsafe_b64decode(token.split(".")[2] + "=="))
    sig[0] ^= 1
    return token.rsplit(".", 1)[0] + "." + b64(bytes(sig)), {}


def unknown_key(ring: Keyring, tmp: Path) -> tuple[str, dict[str, object]]:
    other = Keyring.load_or_create(tmp / "other.json")
    return issue_use_token(other.active(), claims()), {}


def key_of_another_service_under_our_kid(ring: Keyring, tmp: Path) -> tuple[str, dict[str, object]]:
    other = Keyring.load_or_create(tmp / "other-service.json").active()
    header, body = _body(ring)
    return forge(header, body, other.sign), {}  # header names our kid, signed by theirs


def expired(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims()), {"now": NOW + 300 + 31}


def not_yet_valid(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims(nbf=int(NOW) + 120, exp=int(NOW) + 400)), {}


def wrong_audience(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims(aud="svc-other")), {}


def wrong_owner(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims()), {"owner": "mallory"}


def wrong_requester(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims()), {"requester": "mallory"}


def wrong_issuer(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims(iss="someone-else")), {}


def alg_none(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    token = forge({**header, "alg": "none"}, body, lambda _: b"")
    return token.rsplit(".", 1)[0] + ".", {}


def alg_hs256_with_public_key(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    public_x = ring.jwks()["keys"][0]["x"].encode()

    def mac(data: bytes) -> bytes:
        h = hmac.HMAC(public_x, hashes.SHA256())
        h.update(data)
        return h.finalize()

    return forge({**header, "alg": "HS256"}, body, mac), {}


def alg_es256(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    key = ec.generate_private_key(ec.SECP256R1())
    return forge({**header, "alg": "ES256"}, body, lambda d: key.sign(d, ec.ECDSA(hashes.SHA256()))), {}


def truncated(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims())[:-5], {}


def padded(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims()) + "==", {}


def trailing_segment(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims()) + ".AAAA", {}


def tampered_claims(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    token = issue_use_token(ring.active(), claims())
    h, p, s = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=="))
    body["refused"] = []
    return f"{h}.{b64(json.dumps(body).encode())}.{s}", {}


def revoked_grant(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    feed = RevocationList()
    feed.add(cursor=1, grant="subjects/alice/grants/00112233aabbccdd", owner_id="alice", revoke_time_s=int(NOW))
    return issue_use_token(ring.active(), claims()), {"revocations": feed}


def revoked_by_owner_policy_change(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    feed = RevocationList()
    feed.add(cursor=7, grant="", owner_id="alice", revoke_time_s=int(NOW) + 1)
    return issue_use_token(ring.active(), claims(grant="")), {"revocations": feed}


def wrong_type(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    return forge({**header, "typ": "JWT"}, body, ring.active().sign), {}


def extra_header_field(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    return forge({**header, "jku": "https://evil.example/jwks"}, body, ring.active().sign), {}


def lifetime_too_long(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    return issue_use_token(ring.active(), claims(exp=int(NOW) + 3600)), {}


def missing_claim(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    del body["sub"]
    return forge(header, body, ring.active().sign), {}


def duplicate_claim(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    header, body = _body(ring)
    raw = json.dumps(body)[:-1] + ', "sub": "mallory"}'
    signing_input = b64(json.dumps(header).encode()) + "." + b64(raw.encode())
    return signing_input + "." + b64(ring.active().sign(signing_input.encode())), {}


def retired_key(ring: Keyring, _: Path) -> tuple[str, dict[str, object]]:
    token = issue_use_token(ring.active(), claims())
    old = ring.active().kid
    ring.rotate()
    ring.retire(old)
    return token, {}


CASES: dict[str, tuple[BadCase, TokenProblem]] = {
    "bad signature": (bad_signature, TokenProblem.BAD_SIGNATURE),
    "unknown key": (unknown_key, TokenProblem.UNKNOWN_KEY),
    "key of another service": (key_of_another_service_under_our_kid, TokenProblem.BAD_SIGNATURE),
    "retired key": (retired_key, TokenProblem.UNKNOWN_KEY),
    "expired": (expired, TokenProblem.EXPIRED),
    "not yet valid": (not_yet_valid, TokenProblem.NOT_YET_VALID),
    "wrong audience": (wrong_audience, TokenProblem.WRONG_AUDIENCE),
    "wrong owner": (wrong_owner, TokenProblem.WRONG_OWNER),
    "wrong requester": (wrong_requester, TokenProblem.WRONG_REQUESTER),
    "wrong issuer": (wrong_issuer, TokenProblem.WRONG_ISSUER),
    "alg none": (alg_none, TokenProblem.ALGORITHM_NOT_ALLOWED),
    "alg HS256 keyed with the public key": (alg_hs256_with_public_key, TokenProblem.ALGORITHM_NOT_ALLOWED),
    "alg ES256": (alg_es256, TokenProblem.ALGORITHM_NOT_ALLOWED),
    "truncated": (truncated, TokenProblem.MALFORMED),
    "padded": (padded, TokenProblem.MALFORMED),
    "extra segment": (trailing_segment, TokenProblem.MALFORMED),
    "tampered claims": (tampered_claims, TokenProblem.BAD_SIGNATURE),
    "revoked grant": (revoked_grant, TokenProblem.REVOKED),
    "revoked by owner": (revoked_by_owner_policy_change, TokenProblem.REVOKED),
    "wrong type": (wrong_type, TokenProblem.WRONG_TYPE),
    "extra header field": (extra_header_field, TokenProblem.BAD_HEADER),
    "lifetime over 10 minutes": (lifetime_too_long, TokenProblem.LIFETIME_TOO_LONG),
    "missing claim": (missing_claim, TokenProblem.MISSING_CLAIM),
    "duplicate claim": (duplicate_claim, TokenProblem.MALFORMED),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_tokens_are_rejected_with_their_reason(name: str, ring: Keyring, tmp_path: Path) -> None:
    make, problem = CASES[name]
    token, options = make(ring, tmp_path)
    with pytest.raises(TokenRejected) as err:
        verify(token, ring, **options)
    assert err.value.problem == problem, str(err.value)


def test_kid_is_the_jwk_thumbprint(ring: Keyring) -> None:
    assert ring.active().kid == key_id(ring.active().public)
    assert {k["kid"] for k in ring.jwks()["keys"]} == {ring.active().kid}


def test_token_issued_after_an_owner_revocation_is_still_good(ring: Keyring) -> None:
    feed = RevocationList()
    feed.add(cursor=1, grant="", owner_id="alice", revoke_time_s=int(NOW) - 10)
    assert verify(issue_use_token(ring.active(), claims()), ring, revocations=feed).sub == "alice"
    assert feed.cursor == 1


def test_real_clock_default(ring: Keyring) -> None:
    token = issue_use_token(ring.active(), new_claims(issuer=ISSUER, audience=AUDIENCE, owner="a", requester="b",
                                                      ttl_seconds=60))
    keys = keys_from_jwks(ring.jwks())
    assert verify_use_token(token, keys, issuer=ISSUER, audience=AUDIENCE).exp <= time.time() + 61


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .", max_size=12))
def test_base64url_parts_are_accepted_exactly_when_canonical(part: str) -> None:
    """A token part decodes only if it is unpadded base64url that re-encodes to itself, so one
    payload has one spelling (nobody can mint look-alike tokens by flipping unused bits)."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        canonical = bool(part) and "=" not in part and b64(raw) == part
    except (ValueError, binascii.Error):
        canonical = False
    try:
        decoded = tokens._unb64(part)
    except TokenRejected:
        assert not canonical
    else:
        assert canonical and decoded == raw
