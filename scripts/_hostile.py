"""Hostile media for scripts/hostile_input.py and the tests: small files that declare huge media.
Each is a few hundred KB on the wire and, decoded without limits, costs gigabytes or minutes.
Built here, in memory, so nothing large is committed."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import av
import numpy as np


def wav_at_rate(rate: int, samples: int = 32_000) -> bytes:
    """16-bit mono PCM WAV whose header says ``rate`` samples a second (1 Hz: 32,000 samples are
    nine hours, 16,000x as many samples once resampled to 16 kHz)."""
    data = np.zeros(samples, np.int16).tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def png_of_size(width: int, height: int) -> bytes:
    """A black RGB PNG of width x height, compressed row by row (16000x16000: ~750 KB)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" * (1 + 3 * width)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def silent_flac(seconds: float, rate: int = 16_000) -> bytes:
    """FLAC of ``seconds`` of digital silence (10 minutes: ~100 KB)."""
    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"  # type: ignore[attr-defined]
        block = rate  # one second a frame
        for start in range(0, int(seconds * rate), block):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, block), np.int16), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):  # type: ignore[attr-defined]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            container.mux(packet)
    return out.getvalue()


def video_of_size(width: int, height: int, frames: int, *, codec: str = "libx264", fps: int = 25) -> bytes:
    """An MP4 of ``frames`` black frames of width x height."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height  # type: ignore[attr-defined]
        stream.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        black = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="bgr24")
        for _ in range(frames):
            for packet in stream.encode(black):  # type: ignore[attr-defined]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            container.mux(packet)
    return out.getvalue()


def mpeg_program_stream(seconds: float = 3.0) -> bytes:
    """A real MPEG-PS video (what a DVD holds): a container this service does not take as MP4."""
    out = io.BytesIO()
    with av.open(out, "w", format="mpeg") as container:
        stream = container.add_stream("mpeg2video", rate=25)
        stream.width, stream.height = 320, 240  # type: ignore[attr-defined]
        stream.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
        grey = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 128, np.uint8), format="bgr24")
        for _ in range(int(seconds * 25)):
            for packet in stream.encode(grey):  # type: ignore[attr-defined]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            container.mux(packet)
    return out.getvalue()
