"""Decoding media with PyAV: still images, audio resampled to 16 kHz mono, and video frames
sampled at a fixed rate (never all decoded into memory at once)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from kernel.errors import MediaCorrupt, MediaUnsupported, NoAudioTrack, NoVideoTrack

SAMPLE_RATE = 16_000

# Only common codecs are decoded: FFmpeg has hundreds of decoders, and every exotic one is attack
# surface for a service that takes uploads from the internet.
IMAGE_CODECS = frozenset({"mjpeg", "png", "webp", "bmp"})
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg1video", "mpeg2video", "mjpeg"})
AUDIO_CODECS = frozenset({"aac", "mp3", "mp2", "opus", "vorbis", "flac", "alac"})


def _codec(stream: av.stream.Stream) -> str:
    """The codec's canonical name (mp3, not the decoder's mp3float)."""
    codec = stream.codec_context.codec
    return str(getattr(codec, "canonical_name", None) or codec.name)


def _check_codec(codec: str, allowed: frozenset[str], what: str) -> None:
    if codec in allowed or (what == "audio" and codec.startswith("pcm_")):
        return
    raise MediaUnsupported(what, codec)


@dataclass(frozen=True, slots=True)
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    source_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _open(data: bytes, what: str) -> av.container.InputContainer:
    if not data:
        raise MediaCorrupt(what, "empty")
    try:
        return av.open(io.BytesIO(data), mode="r")
    except av.error.InvalidDataError as exc:
        raise MediaCorrupt(what, "not a known container or image format") from exc
    except av.FFmpegError as exc:
        raise MediaCorrupt(what, type(exc).__name__) from exc


def decode_image(data: bytes) -> np.ndarray:
    """A still image (JPEG, PNG, WebP, ...) as BGR uint8 HxWx3; alpha is dropped."""
    container = _open(data, "image")
    try:
        if not container.streams.video:
            raise MediaUnsupported("image", "no picture")
        codec = _codec(container.streams.video[0])
        _check_codec(codec, IMAGE_CODECS, "image")
        _check_complete(data, codec)
        try:
            frame = next(container.decode(video=0))
        except StopIteration as exc:
            raise MediaCorrupt("image", "no picture decoded") from exc
        except av.FFmpegError as exc:
            raise MediaCorrupt("image", type(exc).__name__) from exc
        return frame.to_ndarray(format="bgr24")
    finally:
        container.close()


def _check_complete(data: bytes, codec: str) -> None:
    """FFmpeg decodes the first part of a cut-off JPEG or PNG without complaint and fills the rest
    grey; a cut-off image must be refused, not embedded."""
    tail = data.rstrip(b"\x00")
    if codec == "mjpeg" and not tail.endswith(b"\xff\xd9"):
        raise MediaCorrupt("image", "truncated JPEG (no end-of-image marker)")
    if codec == "png" and b"IEND" not in data[-64:]:
        raise MediaCorrupt("image", "truncated PNG (no IEND chunk)")


def decode_audio(data: bytes) -> Audio:
    """The first audio track, resampled to 16 kHz mono float32."""
    container = _open(data, "audio")
    try:
        if not container.streams.audio:
            raise NoAudioTrack()
        stream = container.streams.audio[0]
        _check_codec(_codec(stream), AUDIO_CODECS, "audio")
        source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
        except av.FFmpegError as exc:
            if not chunks:
                raise MediaCorrupt("audio", type(exc).__name__) from exc
            # A truncated tail: keep what decoded; the length checks downstream judge it.
        if not chunks:
            raise MediaCorrupt("audio", "no samples decoded")
        return Audio(np.concatenate(chunks).astype(np.float32, copy=False), source_rate)
    finally:
        container.close()


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    seconds: float
    has_audio: bool


def video_frames(data: bytes, *, every_seconds: float, max_frames: int) -> tuple[VideoInfo, Iterator[tuple[float,
                                                                                                           np.ndarray]]]:
    """Frames sampled every ``every_seconds`` as (time, BGR array), decoded one at a time."""
    container = _open(data, "video")
    if not container.streams.video:
        container.close()
        raise NoVideoTrack()
    stream = container.streams.video[0]
    try:
        _check_codec(_codec(stream), VIDEO_CODECS, "video")
    except MediaUnsupported:
        container.close()
        raise
    stream.thread_type = "AUTO"
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
        float(container.duration) / av.time_base if container.duration else 0.0)
    info = VideoInfo(stream.codec_context.width, stream.codec_context.height, fps, seconds,
                     bool(container.streams.audio))

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        next_time = 0.0
        taken = 0
        try:
            for frame in container.decode(stream):
                moment = float(frame.time) if frame.time is not None else taken * every_seconds
                if moment + 1e-6 < next_time:
                    continue
                yield moment, frame.to_ndarray(format="bgr24")
                taken += 1
                next_time = moment + every_seconds
                if taken >= max_frames:
                    return
        except av.FFmpegError as exc:
            if taken == 0:
                raise MediaCorrupt("video", type(exc).__name__) from exc
        finally:
            container.close()

    return info, frames()
