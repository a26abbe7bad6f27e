"""Conversions between protobuf messages and domain values."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from auditlog.model import Actor, ActorType
from identity_service.transport.interceptor import current_call
from kernel.clock import from_us, to_us


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    micros = to_us(moment)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def from_timestamp(stamp: Timestamp) -> datetime:
    return from_us(stamp.seconds * 1_000_000 + stamp.nanos // 1000)


def service_actor(context: grpc.ServicerContext) -> Actor:
    """The calling backend service as an audit actor, with the call's request id."""
    call = current_call(context)
    return Actor(ActorType.SERVICE, call.caller.name if call.caller else "", call.request_id)
