"""Decoding within limits: what a file's header declares is checked before anything is decoded,
and decoding stops at the limit. Each case is a small file that, decoded without limits, cost
gigabytes of memory or minutes of CPU (issue "Hostile input"); scripts/hostile_input.py measures
the same cases against a real server's peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from identity_service.inference import media
from kernel.errors import DomainError
from scripts import _hostile as hostile
from tests.conftest import SHARED

LIMITS = media.MediaLimits(max_pixels=4096 * 4096, max_seconds=60)


def refusal(call: Callable[[], object]) -> tuple[str, float]:
    started = time.process_time()
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.reason, time.process_time() - started


def test_a_one_hertz_wav_is_refused_from_its_header() -> None:
    reason, _ = refusal(lambda: media.decode_audio(hostile.wav_at_rate(1), LIMITS))
    assert reason == "ERROR_REASON_AUDIO_SAMPLE_RATE_TOO_LOW"
    reason, _ = refusal(lambda: media.decode_audio(hostile.wav_at_rate(2_000_000), LIMITS))
    assert reason == "ERROR_REASON_MEDIA_UNSUPPORTED"


def test_a_huge_png_is_refused_before_it_is_decoded() -> None:
    png = hostile.png_of_size(16_000, 16_000)
    assert media.image_size(png) == (16_000, 16_000)
    reason, cpu = refusal(lambda: media.decode_image(png, LIMITS))
    assert reason == "ERROR_REASON_RECORDING_FRAME_TOO_LARGE"
    # Decoding it took 2+ s of CPU and 786 MB; the header check takes none of either.
    assert cpu < 1.0


def test_a_video_of_huge_frames_is_refused_before_a_frame_is_decoded() -> None:
    video = hostile.video_of_size(8192, 8192, 2)
    reason, _ = refusal(lambda: list(media.video_frames(video, every_seconds=1, max_frames=5, limits=LIMITS)[1]))
    assert reason == "ERROR_REASON_RECORDING_FRAME_TOO_LARGE"


@pytest.mark.parametrize("minutes", [10, 30])
def test_long_silence_is_refused_from_its_declared_duration(minutes: int) -> None:
    reason, _ = refusal(lambda: media.decode_audio(hostile.silent_flac(minutes * 60), LIMITS))
    assert reason == "ERROR_REASON_RECORDING_DURATION_OUT_OF_RANGE"


def test_audio_whose_header_understates_its_length_stops_decoding_at_the_limit() -> None:
    # A WAV whose data chunk says 0 bytes (as a live stream writes it) holds 90 s of samples.
    wav = bytearray(hostile.wav_at_rate(16_000, samples=90 * 16_000))
    wav[40:44] = (0xFFFFFFFF).to_bytes(4, "little")  # "unknown length"
    with pytest.raises(DomainError) as caught:
        media.decode_audio(bytes(wav), media.MediaLimits(max_seconds=30))
    assert caught.value.reason == "ERROR_REASON_RECORDING_DURATION_OUT_OF_RANGE"


def test_real_media_still_decodes_within_the_limits() -> None:
    clip = (SHARED / "data/talking/sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes()
    info, frames = media.video_frames(clip, every_seconds=1.0, max_frames=30, limits=media.MediaLimits(max_seconds=30))
    assert len(list(frames)) >= 10 and info.seconds > 10
    assert media.decode_audio(clip, media.MediaLimits(max_seconds=30)).seconds > 10
    photo = (SHARED / "data/faces/knn_examples/train/obama/obama.jpg").read_bytes()
    assert media.decode_image(photo, LIMITS).shape[2] == 3


@pytest.mark.parametrize(("data", "declared", "ok"), [
    (lambda: (SHARED / "data/faces/knn_examples/train/obama/obama.jpg").read_bytes(), "jpeg", True),
    (lambda: (SHARED / "data/faces/knn_examples/train/obama/obama.jpg").read_bytes(), "mp4", False),
    (lambda: (SHARED / "data/faces/knn_examples/train/obama/obama.jpg").read_bytes(), "wav", False),
    (lambda: (SHARED / "data/talking/sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes(), "mp4", True),
    (lambda: (SHARED / "data/talking/sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes(), "mov", True),
    (lambda: (SHARED / "data/talking/sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes(), "webm", False),
    (lambda: hostile.mpeg_program_stream(1.0), "mp4", False),
    (lambda: hostile.wav_at_rate(16_000), "wav", True),
    (lambda: hostile.silent_flac(1), "flac", True),
    (lambda: hostile.png_of_size(8, 8), "png", True),
])
def test_the_declared_container_is_checked(data: Callable[[], bytes], declared: str, ok: bool) -> None:
    content = data()
    if ok:
        media.check_container(content, declared)
        return
    with pytest.raises(DomainError) as caught:
        media.check_container(content, declared)
    assert caught.value.reason == "ERROR_REASON_MEDIA_UNSUPPORTED"
    assert caught.value.metadata["declared"] == declared.upper()


def test_a_stream_damaged_in_the_middle_is_corrupt_not_too_short() -> None:
    import random

    clip = bytearray((SHARED / "data/talking/sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes())
    start = clip.find(b"mdat") + 8 + (len(clip) - clip.find(b"mdat")) // 3
    noise = random.Random(1)
    clip[start:start + 60_000] = bytes(noise.randrange(256) for _ in range(60_000))
    with pytest.raises(DomainError) as caught:
        list(media.video_frames(bytes(clip), every_seconds=1 / 16, max_frames=500)[1])
    assert caught.value.reason == "ERROR_REASON_MEDIA_CORRUPT"
    assert "damaged at" in caught.value.message
