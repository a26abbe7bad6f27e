"""Audit events and checkpoints, and their canonical byte encodings."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kernel.clock import to_us


class ActorType(StrEnum):
    SERVICE = "service"
    USER = "user"
    OPERATOR = "operator"
    SYSTEM = "system"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ALLOW = "allow"
    DENY = "deny"
    # Only on a redacted event: its outcome was erased with the rest of its payload.
    REDACTED = "redacted"


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """What a caller of the log provides; the log assigns sequence, time and hash."""

    actor_type: ActorType
    actor_id: str
    action: str
    outcome: Outcome
    subject_id: str = ""
    reason: str = ""
    request_id: str = ""
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    sequence: int
    time: datetime
    actor_type: ActorType
    actor_id: str
    subject_id: str
    action: str
    outcome: Outcome
    reason: str
    request_id: str
    details: dict[str, str]
    leaf_hash: bytes
    redacted: bool = False

    def blank(self) -> bool:
        """Whether nothing is left of the payload but the event's place and time: what a
        redacted event must look like (its leaf hash, the original, stays in the tree)."""
        return (not (self.actor_id or self.subject_id or self.action or self.reason or self.request_id
                     or self.details) and self.outcome == Outcome.REDACTED)

    def canonical(self) -> bytes:
        """The bytes hashed into the Merkle leaf: sorted-key compact JSON of every field."""
        return canonical_event(
            self.sequence, self.time, self.actor_type, self.actor_id, self.subject_id, self.action,
            self.outcome, self.reason, self.request_id, self.details,
        )


def canonical_event(
    sequence: int, time: datetime, actor_type: ActorType, actor_id: str, subject_id: str, action: str,
    outcome: Outcome, reason: str, request_id: str, details: dict[str, str],
) -> bytes:
    body = {
        "seq": sequence, "time_us": to_us(time), "actor_type": actor_type.value, "actor_id": actor_id,
        "subject_id": subject_id, "action": action, "outcome": outcome.value, "reason": reason,
        "request_id": request_id, "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


CHECKPOINT_ORIGIN = "likeness-audit-log"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    time: datetime
    key_id: str
    signature: bytes
    signed_body: bytes

    def to_json(self) -> dict[str, object]:
        """The checkpoint as a witness keeps it outside the database (``audit checkpoint --export``)."""
        return {"tree_size": self.tree_size, "root_hash": base64.b64encode(self.root_hash).decode(),
                "time": self.time.isoformat(), "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode(),
                "signed_body": base64.b64encode(self.signed_body).decode()}

    @staticmethod
    def from_json(data: dict[str, object]) -> Checkpoint:
        """ValueError (or KeyError, TypeError) on anything but what ``to_json`` wrote."""
        return Checkpoint(int(str(data["tree_size"])), base64.b64decode(str(data["root_hash"]), validate=True),
                          datetime.fromisoformat(str(data["time"])), str(data["key_id"]),
                          base64.b64decode(str(data["signature"]), validate=True),
                          base64.b64decode(str(data["signed_body"]), validate=True))


def checkpoint_body(tree_size: int, root_hash: bytes, time: datetime, key_id: str) -> bytes:
    """The signed text, one field a line (in the spirit of C2SP signed notes)."""
    return (
        f"{CHECKPOINT_ORIGIN}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"
        f"{to_us(time)}\n{key_id}\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for the audit log: a calling service, an end user or an operator."""

    actor_type: ActorType
    actor_id: str
    request_id: str = ""

    def draft(
        self, action: str, outcome: Outcome, *, subject_id: str = "", reason: str = "",
        details: dict[str, str] | None = None,
    ) -> AuditDraft:
        return AuditDraft(
            actor_type=self.actor_type, actor_id=self.actor_id, action=action, outcome=outcome,
            subject_id=subject_id, reason=reason, request_id=self.request_id, details=details or {},
        )


SYSTEM_ACTOR = Actor(ActorType.SYSTEM, "identity-service")


def erased_subject_marker(subject_id: str) -> str:
    """What the erasure event names instead of the erased id: lets an operator who knows the
    id confirm the erasure without the log listing erased ids."""
    import hashlib

    return "erased:" + hashlib.sha256(subject_id.encode()).hexdigest()[:24]
