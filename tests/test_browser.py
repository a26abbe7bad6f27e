"""In a real browser (Debian's Chromium, headless, driven through its ChromeDriver): a person
enrolls through the capture page, with a real recording from ../shared/data played as the camera
and the microphone; and /docs renders offline (a screenshot that is not blank).

scripts/setup.sh installs chromium and chromium-driver. Without them these tests fail and say so;
LIKENESS_TEST_SKIP_BROWSER=1 skips them explicitly."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from tests.test_enroll import ENROLL_CLIP
from tests.userapi_support import UserApi, running_user_api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CAMERA_SECONDS = 10.0


def _require_browser() -> None:
    if os.environ.get("LIKENESS_TEST_SKIP_BROWSER") == "1":
        pytest.skip("LIKENESS_TEST_SKIP_BROWSER=1")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed (scripts/setup.sh installs them as root: "
                    "apt-get install chromium chromium-driver); LIKENESS_TEST_SKIP_BROWSER=1 skips these tests")


def camera_files(folder: Path) -> tuple[Path, Path]:
    """The recording as Chromium's fake devices read it: raw Y4M video and a WAV file."""
    video, audio = folder / "camera.y4m", folder / "microphone.wav"
    with av.open(str(ENROLL_CLIP)) as source, av.open(str(video), "w", format="yuv4mpegpipe") as target:
        stream_in = source.streams.video[0]
        stream_out = target.add_stream("rawvideo", rate=25)
        stream_out.width, stream_out.height = stream_in.codec_context.width, stream_in.codec_context.height  # type: ignore[attr-defined]
        stream_out.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
        for frame in source.decode(stream_in):
            if frame.time is not None and frame.time >= CAMERA_SECONDS:
                break
            frame.pts = None
            for packet in stream_out.encode(frame.reformat(format="yuv420p")):  # type: ignore[attr-defined]
                target.mux(packet)
        for packet in stream_out.encode(None):  # type: ignore[attr-defined]
            target.mux(packet)
    samples = media.decode_audio(ENROLL_CLIP.read_bytes()).samples[: int(CAMERA_SECONDS * media.SAMPLE_RATE)]
    with av.open(str(audio), "w", format="wav") as target:
        out = target.add_stream("pcm_s16le", rate=media.SAMPLE_RATE)
        out.layout = "mono"  # type: ignore[attr-defined]
        frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16",
                                           layout="mono")
        frame.sample_rate = media.SAMPLE_RATE
        frame.time_base = Fraction(1, media.SAMPLE_RATE)
        frame.pts = 0
        for packet in out.encode(frame):  # type: ignore[attr-defined]
            target.mux(packet)
        for packet in out.encode(None):  # type: ignore[attr-defined]
            target.mux(packet)
    return video, audio


def browser(*arguments: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,1600", "--autoplay-policy=no-user-gesture-required", *arguments):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture
def api(tmp_path: Path, biometrics: Biometrics, recording_analyzer: object) -> Iterator[UserApi]:
    _require_browser()
    # A recording made beforehand cannot say a fresh session's digits or turn the head on cue:
    # those two checks are reported, not required, as in the quickstart.
    with running_user_api(tmp_path, biometrics=biometrics, analyzer=recording_analyzer,
                          liveness_optional_checks=["spoken_digits", "head_turns"]) as running:
        yield running


def test_a_person_enrolls_through_the_capture_page_in_chromium(api: UserApi, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    video, audio = camera_files(tmp_path)
    driver = browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}")
    try:
        token = api.issuer.token("erin", ttl=600)
        driver.get(f"{api.base_url}/capture#token={token}&auto=1&seconds={CAMERA_SECONDS - 1:g}")
        state = WebDriverWait(driver, 240, poll_frequency=0.5).until(
            lambda d: d.execute_script("return ['enrolled', 'failed', 'error'].includes(document.body.dataset.state)"
                                       " ? document.body.dataset.state : false"))
        status = driver.execute_script("return document.getElementById('status').textContent")
        checks = driver.execute_script(
            "return Array.from(document.querySelectorAll('#checks tbody tr'))"
            ".map(r => [r.dataset.check, r.dataset.passed === 'true'])")
        digits = driver.execute_script("return document.getElementById('digits').textContent")
    finally:
        driver.quit()
    assert state == "enrolled", (status, checks)
    assert len(digits) == 6
    passed = dict(checks)
    assert {"single_face", "one_identity", "one_voice", "lip_sync", "presentation_attack"} <= set(passed)
    assert all(passed[c] for c in ("single_face", "one_identity", "one_voice", "presentation_attack", "lip_sync"))
    with api.client("erin") as erin:
        assert erin.get("/v1/subjects/me/export").json()["enrollment"]["state"] == "active"


def test_the_docs_render_offline(tmp_path: Path) -> None:
    """Swagger UI and ReDoc from the package's own files: the pages draw their operations with
    no network beyond the service (a blank page was what a CDN-loaded /docs showed offline)."""
    import cv2
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _require_browser()
    with running_user_api(tmp_path) as api:
        driver = browser("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")  # nothing else resolves
        try:
            driver.get(f"{api.base_url}/docs")
            WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10)
            shot = driver.get_screenshot_as_png()
            driver.get(f"{api.base_url}/redoc")
            WebDriverWait(driver, 60).until(
                lambda d: "cameo" in d.find_element(By.TAG_NAME, "body").text.lower())
        finally:
            driver.quit()
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape[0] > 500
    assert float(image.std()) > 10 and len(np.unique(image)) > 20  # text and colour, not a blank page
