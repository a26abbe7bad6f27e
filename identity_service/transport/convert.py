"""Conversions between protobuf messages and domain values."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from identity_service.clock import from_us, to_us


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    micros = to_us(moment)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def from_timestamp(stamp: Timestamp) -> datetime:
    return from_us(stamp.seconds * 1_000_000 + stamp.nanos // 1000)
