"""Encoding recordings for the dev set, benchmarks and tests (H.264 + AAC in MP4, as phones record)."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np


def encode_mp4(frames: list[np.ndarray], audio: np.ndarray | None, fps: float = 25.0) -> bytes:
    """H.264 (+ AAC when audio is given) in MP4."""
    height, width = frames[0].shape[:2]
    width, height = width - width % 2, height - height % 2
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16_000, layout="mono") if audio is not None else None
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="bgr24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None and audio is not None:
            mux_audio(container, sound, audio)
    return buffer.getvalue()


def mux_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
              samples: np.ndarray) -> None:
    """Encode 16 kHz mono float samples (clipped to [-1, 1]) into ``stream``, resampled to its
    format and rate, and mux every packet, the encoder's last ones included."""
    pcm = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None], format="s16",
                                     layout="mono")
    pcm.sample_rate = 16_000
    resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono",
                                  rate=stream.codec_context.sample_rate)
    for part in resampler.resample(pcm):
        for packet in stream.encode(part):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
