"""Decoding media with PyAV: still images, audio resampled to 16 kHz mono, and video frames
sampled at a fixed rate (never all decoded into memory at once).

Every byte a caller sends is hostile until checked, and a small file can declare a huge picture
(a 747 KB PNG of 16000x16000), a tiny sample rate (a 64 KB WAV at 1 Hz resamples to gigabytes) or a
long silence (a 331 KB FLAC of 30 minutes). So each decoder takes ``MediaLimits``: what the
container's headers declare is checked before anything is decoded, and the decoding itself stops
at the limit, because headers can lie."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from kernel.errors import (
    AudioSampleRateTooLow,
    ContainerMismatch,
    MediaCorrupt,
    MediaUnsupported,
    NoAudioTrack,
    NoVideoTrack,
    RecordingDurationOutOfRange,
    RecordingFrameTooLarge,
)

SAMPLE_RATE = 16_000

# Only common codecs are decoded: FFmpeg has hundreds of decoders, and every exotic one is attack
# surface for a service that takes uploads from the internet.
IMAGE_CODECS = frozenset({"mjpeg", "png", "webp", "bmp"})
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg1video", "mpeg2video", "mjpeg"})
AUDIO_CODECS = frozenset({"aac", "mp3", "mp2", "opus", "vorbis", "flac", "alac"})


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """The most one decode may produce. Worst case in memory: one picture of ``max_pixels`` as
    BGR (3 bytes a pixel) plus the decoder's own frames (YUV, about 1.5 bytes a pixel, a few in
    flight), and ``max_seconds`` of 16 kHz float32 audio (64 KB a second)."""

    max_pixels: int = 4096 * 4096
    max_seconds: float = 60.0
    min_seconds: float = 0.0  # only for the message of RECORDING_DURATION_OUT_OF_RANGE
    min_sample_rate: int = 8_000
    max_sample_rate: int = 192_000
    # Frames decoded (not only kept) per second of video: a 3 s file of tiny frames at 10,000 fps
    # would otherwise cost minutes of decoding for seconds of content.
    max_fps: float = 240.0

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise RecordingFrameTooLarge(width, height, self.max_pixels)

    def check_seconds(self, seconds: float) -> None:
        # Half a second of slack: containers round durations to whole frames and packets.
        if seconds > self.max_seconds + 0.5:
            raise RecordingDurationOutOfRange(seconds, self.min_seconds, self.max_seconds)


DEFAULT_LIMITS = MediaLimits()


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


def _open(data: bytes, what: str, limits: MediaLimits) -> av.container.InputContainer:
    if not data:
        raise MediaCorrupt(what, "empty")
    # Opening a file decodes its first picture to learn the stream's parameters: FFmpeg's own
    # max_pixels makes that probe (and every decoder opened later, see _limit_decoder) refuse a
    # picture over the limit instead of allocating it.
    try:
        return av.open(io.BytesIO(data), mode="r", options={"max_pixels": str(limits.max_pixels)})
    except av.error.InvalidDataError as exc:
        raise MediaCorrupt(what, "not a known container or image format") from exc
    except av.FFmpegError as exc:
        raise MediaCorrupt(what, type(exc).__name__) from exc


def _limit_decoder(stream: av.stream.Stream, limits: MediaLimits) -> None:
    stream.codec_context.options = {"max_pixels": str(limits.max_pixels)}


# What the first bytes of each container are. MP4 and MOV are both ISO base media files, told
# apart only by their brand, and clients label them loosely: each is accepted for the other.
_ISO_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def sniff_container(data: bytes) -> str:
    """The container the bytes are, by their signature: mp4, webm, wav, flac, jpeg, png, or a
    description of what else they are ("MPEG program stream", "unknown")."""
    head = data[:16]
    if head[4:8] in _ISO_BMFF_BOXES:
        return "mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "MPEG program stream"
    if head.startswith(b"G") and len(data) > 188 and data[188:189] == b"G":
        return "MPEG transport stream"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP image"
    if head.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3")):
        return "MP3 audio"
    if head.startswith(b"OggS"):
        return "Ogg"
    return "unknown"


def check_container(data: bytes, declared: str) -> None:
    """Refuse bytes that are not the container the caller declared (MEDIA_UNSUPPORTED naming
    both): an MPEG-PS file labelled MP4 was enrolled, a JPEG labelled MP4 answered NO_AUDIO_TRACK."""
    actual = sniff_container(data)
    # Bytes of no known container are left to the decoder, whose answer (MEDIA_CORRUPT) is truer.
    if actual in (declared, "unknown") or (actual == "mp4" and declared == "mov"):
        return
    raise ContainerMismatch(declared.upper(), actual)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, JPEG, WebP or BMP header, without decoding anything (None
    for other formats or a header too short to tell)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"BM" and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
            int.from_bytes(data[22:26], "little", signed=True))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if kind == b"VP8 ":
            return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
        return None
    if data[:2] == b"\xff\xd8":
        at = 2
        while at + 9 <= len(data):
            if data[at] != 0xFF:
                return None
            marker = data[at + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                at += 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
                return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
            at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None


def _declared_seconds(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return float(container.duration) / av.time_base if container.duration else 0.0


def decode_image(data: bytes, limits: MediaLimits = DEFAULT_LIMITS) -> np.ndarray:
    """A still image (JPEG, PNG, WebP, ...) as BGR uint8 HxWx3; alpha is dropped."""
    declared = image_size(data)
    if declared is not None:
        limits.check_pixels(*declared)
    container = _open(data, "image", limits)
    try:
        if not container.streams.video:
            raise MediaUnsupported("image", "no picture")
        stream = container.streams.video[0]
        codec = _codec(stream)
        _check_codec(codec, IMAGE_CODECS, "image")
        _check_complete(data, codec)
        # The size in the image's header, read when the file was opened: nothing is decoded yet.
        limits.check_pixels(stream.codec_context.width, stream.codec_context.height)
        _limit_decoder(stream, limits)
        try:
            frame = next(container.decode(video=0))
        except StopIteration as exc:
            raise MediaCorrupt("image", "no picture decoded") from exc
        except av.FFmpegError as exc:
            raise MediaCorrupt("image", type(exc).__name__) from exc
        limits.check_pixels(frame.width, frame.height)
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


def decode_audio(data: bytes, limits: MediaLimits = DEFAULT_LIMITS) -> Audio:
    """The first audio track, resampled to 16 kHz mono float32."""
    container = _open(data, "audio", limits)
    try:
        if not container.streams.audio:
            raise NoAudioTrack()
        stream = container.streams.audio[0]
        _check_codec(_codec(stream), AUDIO_CODECS, "audio")
        source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        # Checked before decoding: resampling a 1 Hz stream to 16 kHz multiplies it 16,000 times.
        if source_rate < limits.min_sample_rate:
            raise AudioSampleRateTooLow(source_rate, limits.min_sample_rate)
        if source_rate > limits.max_sample_rate:
            raise MediaUnsupported("audio", f"sample rate {source_rate} Hz (at most {limits.max_sample_rate})")
        limits.check_seconds(_declared_seconds(container, stream))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        kept = 0
        most = int((limits.max_seconds + 0.5) * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                # A stream may change rate part-way (or HE-AAC decode at twice its header's rate):
                # every frame's own rate gets the same bounds.
                if not limits.min_sample_rate <= frame.sample_rate <= limits.max_sample_rate:
                    raise MediaUnsupported("audio", f"a frame at {frame.sample_rate} Hz")
                for piece in resampler.resample(frame):
                    chunks.append(piece.to_ndarray().reshape(-1))
                    kept += len(chunks[-1])
                if kept > most:  # the header understated the length: stop at the limit
                    raise RecordingDurationOutOfRange(kept / SAMPLE_RATE, limits.min_seconds, limits.max_seconds)
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


# Frame threads per video decoder: each holds a frame in flight, so the count bounds memory too.
DECODE_THREADS = 4


def video_frames(data: bytes, *, every_seconds: float, max_frames: int,
                 limits: MediaLimits = DEFAULT_LIMITS) -> tuple[VideoInfo, Iterator[tuple[float, np.ndarray]]]:
    """Frames sampled every ``every_seconds`` as (time, BGR array), decoded one at a time. The
    header's picture size and duration are checked here, before anything is decoded; the frames
    are checked again as they decode."""
    container = _open(data, "video", limits)
    try:
        if not container.streams.video:
            raise NoVideoTrack()
        stream = container.streams.video[0]
        _check_codec(_codec(stream), VIDEO_CODECS, "video")
        width, height = stream.codec_context.width, stream.codec_context.height
        limits.check_pixels(width, height)
        seconds = _declared_seconds(container, stream)
        limits.check_seconds(seconds)
    except BaseException:
        container.close()
        raise
    _limit_decoder(stream, limits)
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = DECODE_THREADS
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    info = VideoInfo(width, height, fps, seconds, bool(container.streams.audio))
    most_decoded = int((limits.max_seconds + 1) * limits.max_fps)

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        next_time = 0.0
        taken = 0
        decoded = 0
        first: float | None = None
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > most_decoded:
                    raise MediaUnsupported("video", f"more than {limits.max_fps:g} frames a second")
                # A stream may change its picture size part-way (a new H.264 sequence header).
                limits.check_pixels(frame.width, frame.height)
                moment = float(frame.time) if frame.time is not None else taken * every_seconds
                first = moment if first is None else first
                limits.check_seconds(moment - first)  # streams may start late (MPEG-TS at 1.4 s)
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
            # A damaged tail (the last packet of a recording cut by the browser) is tolerated;
            # damage before it is not: its frames would stop early and the recording would be
            # judged too short, or the wrong person's frames would be missing.
            reached = next_time - (first or 0.0)
            if seconds and reached < 0.9 * seconds:
                raise MediaCorrupt("video", f"the stream is damaged at {reached:.1f} s of {seconds:.1f} s "
                                            f"({type(exc).__name__})") from exc
        finally:
            container.close()

    return info, frames()
