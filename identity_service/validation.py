"""Request validation shared by handlers: ids, page sizes and opaque page tokens."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from kernel.b64 import b64url, b64url_decode
from kernel.errors import FieldInvalid, FieldMissing, PageTokenInvalid

SUBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SUBJECT_ID_RULE = "1-64 characters of A-Z a-z 0-9 _ . -"


def subject_id(value: str, field: str = "subject_id") -> str:
    """A valid subject id, or FieldMissing / FieldInvalid naming ``field``."""
    if not value:
        raise FieldMissing(field)
    if not SUBJECT_ID_RE.fullmatch(value):
        raise FieldInvalid(field, SUBJECT_ID_RULE)
    return value


# C0 controls other than tab, newline and carriage return. PostgreSQL cannot store NUL in text at
# all (the write failed with a 500), and none of them belongs in text shown to a person.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TEXT_RULE = "no control characters other than tab and newline"


def text(value: str, field: str, max_length: int) -> str:
    """Free text a person wrote, or FieldInvalid naming ``field``."""
    if len(value) > max_length:
        raise FieldInvalid(field, f"at most {max_length} characters")
    if CONTROL_CHARACTERS.search(value):
        raise FieldInvalid(field, TEXT_RULE)
    return value


def page_size(value: int, *, default: int, maximum: int, field: str = "page_size") -> int:
    """0 means the default; negative is an error; above the maximum is coerced down (AIP-158)."""
    if value < 0:
        raise FieldInvalid(field, "must not be negative")
    if value == 0:
        return default
    return min(value, maximum)


def _fingerprint(filters: dict[str, object]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(after: str | int, filters: dict[str, object]) -> str:
    """An opaque token for the page after ``after``, bound to the List's filters."""
    body = json.dumps({"a": after, "f": _fingerprint(filters)}, separators=(",", ":"))
    return b64url(body.encode())


def decode_page_token(token: str, filters: dict[str, object]) -> str | int | None:
    """The position a token stands for; None for an empty token; PageTokenInvalid otherwise."""
    if not token:
        return None
    try:
        body = json.loads(b64url_decode(token))
        after = body["a"]
        fingerprint = body["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PageTokenInvalid() from exc
    if fingerprint != _fingerprint(filters) or not isinstance(after, str | int) or isinstance(after, bool):
        raise PageTokenInvalid()
    # A position the database can hold: a crafted 10**30 overflowed the SQL integer (a 500).
    if isinstance(after, int) and not 0 <= after < 2**63:
        raise PageTokenInvalid()
    if isinstance(after, str) and (len(after) > 256 or CONTROL_CHARACTERS.search(after)):
        raise PageTokenInvalid()
    return after


T = TypeVar("T")


def page_of(
    rows: Sequence[T], size: int, key: Callable[[T], str | int], filters: dict[str, object]
) -> tuple[list[T], str]:
    """Trim rows fetched with limit ``size + 1`` to a page, and the token for the next page
    ('' on the last page)."""
    page = list(rows[:size])
    more = len(rows) > size
    return page, encode_page_token(key(page[-1]), filters) if more and page else ""
