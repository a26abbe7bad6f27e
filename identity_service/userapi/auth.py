"""Verifies the app's user access tokens (JWT): signature by a configured key, algorithm, issuer,
audience and lifetime. The token's ``sub`` is the calling user."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from identity_service.validation import SUBJECT_ID_RE
from kernel.errors import UserTokenInvalid

# What each algorithm family accepts as a key type, so a key can never be used under another
# algorithm than the one it was made for (e.g. an RSA public key as an HMAC secret).
_KTY_FOR_ALG = {
    "EdDSA": "OKP", "ES256": "EC", "ES384": "EC",
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
}


# Path aliases and names a filesystem or URL would resolve: never a user id, whatever signed them.
RESERVED_SUBJECTS = frozenset({"me", ".", ".."})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _canonical_b64url(segment: str) -> bool:
    """Unpadded base64url whose unused trailing bits are zero: the one spelling of its bytes. Any
    other (padding, stray bits) lets one signature be written several ways."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return False
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """An authenticated end user."""

    subject_id: str
    token_id: str  # the token's jti, or "" when it has none; never the token itself


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    kty: str
    key: Any


class UserTokenVerifier:
    """Checks user access tokens against keys from a JWKS file or a PEM public key."""

    def __init__(
        self, keys: list[_Key], *, issuer: str, audience: str, algorithms: list[str], leeway_seconds: int,
        max_lifetime_seconds: int = 86_400,
    ) -> None:
        if not keys:
            raise ValueError("no user token keys configured")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = [a for a in algorithms if a in _KTY_FOR_ALG]
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds

    @classmethod
    def from_files(
        cls, *, jwks_file: Path | None, public_key_file: Path | None, issuer: str, audience: str,
        algorithms: list[str], leeway_seconds: int, max_lifetime_seconds: int = 86_400,
    ) -> UserTokenVerifier:
        """Load the verification keys; raises ValueError naming the file when one is unusable."""
        keys: list[_Key] = []
        if jwks_file is not None:
            keys.extend(_jwks_keys(jwks_file))
        if public_key_file is not None:
            keys.append(_pem_key(public_key_file))
        return cls(keys, issuer=issuer, audience=audience, algorithms=algorithms, leeway_seconds=leeway_seconds,
                   max_lifetime_seconds=max_lifetime_seconds)

    def verify(self, authorization: str | None) -> UserPrincipal:
        """The user behind an ``Authorization: Bearer`` header, or UserTokenInvalid saying why."""
        if not authorization:
            raise UserTokenInvalid("missing Authorization: Bearer header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UserTokenInvalid("Authorization must be 'Bearer <token>'")
        segments = token.split(".")
        if len(segments) != 3 or not all(_canonical_b64url(part) for part in segments):
            raise UserTokenInvalid("malformed token: three segments of unpadded, canonical base64url")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise UserTokenInvalid("malformed token") from exc
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise UserTokenInvalid(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        candidates = [k for k in self._keys if k.kty == _KTY_FOR_ALG[alg] and (not kid or not k.kid or k.kid == kid)]
        if not candidates:
            raise UserTokenInvalid("signed by an unknown key")
        claims: dict[str, Any] | None = None
        last: jwt.InvalidTokenError | None = None
        for candidate in candidates:
            try:
                claims = jwt.decode(
                    token, candidate.key, algorithms=[alg], audience=self._audience,
                    issuer=self._issuer or None, leeway=self._leeway,
                    options={"require": ["exp", "sub", "aud"], "verify_iat": True},
                )
                break
            except jwt.InvalidSignatureError as exc:
                last = exc
            except jwt.ExpiredSignatureError as exc:
                raise UserTokenInvalid("expired") from exc
            except jwt.ImmatureSignatureError as exc:
                raise UserTokenInvalid("not valid yet") from exc
            except jwt.InvalidAudienceError as exc:
                raise UserTokenInvalid("wrong audience") from exc
            except jwt.InvalidIssuerError as exc:
                raise UserTokenInvalid("wrong issuer") from exc
            except jwt.MissingRequiredClaimError as exc:
                raise UserTokenInvalid(f"missing claim {exc.claim}") from exc
            except jwt.InvalidTokenError as exc:
                raise UserTokenInvalid("malformed token") from exc
        if claims is None:
            raise UserTokenInvalid("bad signature") from last
        self._check_lifetime(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not SUBJECT_ID_RE.fullmatch(subject) or subject in RESERVED_SUBJECTS:
            raise UserTokenInvalid("sub is not a valid subject id")
        jti = claims.get("jti")
        return UserPrincipal(subject_id=subject, token_id=jti if isinstance(jti, str) else "")


    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        exp = claims.get("exp")
        iat = claims.get("iat")
        if not isinstance(exp, int | float):
            raise UserTokenInvalid("exp is not a number")
        start = iat if isinstance(iat, int | float) else time.time()
        if exp - start > self._max_lifetime + self._leeway:
            raise UserTokenInvalid(f"lives longer than {self._max_lifetime} s (exp - iat); issue shorter tokens")


def _jwks_keys(path: Path) -> list[_Key]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable JWKS document ({exc})") from exc
    algorithms = get_default_algorithms()
    keys: list[_Key] = []
    for entry in entries:
        kty = entry.get("kty")
        if entry.get("use", "sig") != "sig" or kty not in ("OKP", "EC", "RSA"):
            continue
        if "d" in entry:
            raise ValueError(f"{path}: key {entry.get('kid')!r} holds a private part; publish only public keys")
        family = {"OKP": "EdDSA", "EC": "ES256", "RSA": "RS256"}[kty]
        if kty == "EC" and entry.get("crv") == "P-384":
            family = "ES384"
        try:
            key = algorithms[family].from_jwk(json.dumps(entry))
        except jwt.InvalidKeyError as exc:
            raise ValueError(f"{path}: key {entry.get('kid')!r} is not usable ({exc})") from exc
        keys.append(_Key(kid=str(entry.get("kid", "")), kty=kty, key=key))
    if not keys:
        raise ValueError(f"{path}: no signature keys in the JWKS")
    return keys


def _pem_key(path: Path) -> _Key:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a PEM public key ({exc})") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        kty = "OKP"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kty = "EC"
    elif isinstance(key, rsa.RSAPublicKey):
        kty = "RSA"
    else:
        raise ValueError(f"{path}: unsupported key type {type(key).__name__}")
    return _Key(kid="", kty=kty, key=key)
