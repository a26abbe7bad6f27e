"""Unpadded base64url (RFC 4648 section 5), as JOSE, JWKS and page tokens use it."""

from __future__ import annotations

import base64


def b64url(data: bytes) -> str:
    """The unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded (or padded) base64url text; ValueError when it is not base64url.
    Lenient about the unused bits of the last character: a verifier that needs one canonical
    form checks it first (consent.tokens)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
