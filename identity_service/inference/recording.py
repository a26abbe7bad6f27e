"""Analysing one enrollment recording into liveness observations, templates and timings.

Frames are sampled at a fixed rate and processed in small batches, never all held in memory;
speech recognition and the mouth's landmarks run on two threads beside the video analysis
(the models release the GIL)."""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from identity.model import RecordingAnalysis
from identity.vectors import unit
from identity_service.inference import media
from identity_service.inference.antispoof import AntiSpoof
from identity_service.inference.asr import SpeechRecognizer
from identity_service.inference.biometrics import Biometrics
from identity_service.inference.face import DetectedFace, FaceDetector, align, quality
from identity_service.inference.landmarks import LandmarkModel, mouth_opening
from kernel.errors import MediaCorrupt, RecordingDurationOutOfRange
from liveness.articulation import band_energies, shipped_lip_sync, shipped_model
from liveness.checks import AudioObservation, FrameObservation, MouthTrack, Observations
from liveness.digits import spoken_digits


@dataclass(frozen=True, slots=True)
class RecordingLimits:
    min_seconds: float = 3.0
    max_seconds: float = 30.0
    max_pixels: int = 1920 * 1080
    sample_fps: float = 8.0  # frames analysed in full: faces, pose, identity, presentation attack
    # Frames whose mouth is measured (landmarks only, in the face box of the last analysed frame):
    # lip sync needs at least 12 a second to follow syllables; 25 fps video gives 12.5.
    mouth_fps: float = 16.0
    embed_every: int = 8  # embed the face of every 8th sampled frame (one a second)
    # Presentation-attack scores on every 4th (two a second): with one a second a 4 s recording
    # gave a median of 4-5 scores, and one person's swung from 0.30 to 0.99 between them.
    live_every: int = 4
    # Decoded frames per batch (about half of them analysed). Two batches are held at once (one
    # on the mouth worker): 16 frames, 100 MB at 1080p, per enrollment.
    batch: int = 8


@dataclass(slots=True)
class _VideoRun:
    """What one recording's video analysis has gathered so far (per call: the analyser is shared)."""

    mouth_worker: Executor  # where the mouth's landmarks run, beside this thread
    observed: list[FrameObservation] = field(default_factory=list)
    mouth: list[tuple[float, float]] = field(default_factory=list)  # (time, opening)
    crops: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, aligned crop)
    last_face: DetectedFace | None = None
    # The batch of landmarks running on the mouth worker: (time, opening) pairs and its time.
    pending: Future[tuple[list[tuple[float, float]], float]] | None = None
    landmarks_ms: float = 0.0


class RecordingAnalyzer:
    def __init__(self, biometrics: Biometrics, landmarks: LandmarkModel, antispoof: AntiSpoof,
                 recognizer: SpeechRecognizer | None, limits: RecordingLimits | None = None) -> None:
        self.bio = biometrics
        self.landmarks = landmarks
        self.antispoof = antispoof
        self.recognizer = recognizer
        self.limits = limits or RecordingLimits()
        detector = biometrics.detector
        assert isinstance(detector, FaceDetector)
        # Enrollment selfies fill the frame: a 320 px detector finds them at a quarter of the cost.
        self.detector = FaceDetector(detector.model, size=320, threshold=detector.threshold, nms=detector.nms)

    def analyze(self, video: bytes, audio: bytes | None = None, *, transcribe: bool = True,
                expected_digits: str = "") -> RecordingAnalysis:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        decode_limits = media.MediaLimits(max_pixels=self.limits.max_pixels, max_seconds=self.limits.max_seconds,
                                          min_seconds=self.limits.min_seconds)
        info, frames = media.video_frames(video, every_seconds=1.0 / self.limits.mouth_fps,
                                          max_frames=int(self.limits.max_seconds * self.limits.mouth_fps) + 1,
                                          limits=decode_limits)
        # A tenth of a second of slack: containers round durations to whole frames.
        if info.seconds and not self.limits.min_seconds - 0.1 <= info.seconds <= self.limits.max_seconds + 0.5:
            raise RecordingDurationOutOfRange(info.seconds, self.limits.min_seconds, self.limits.max_seconds)
        # Audio first (small), so speech recognition can run while the frames are analysed.
        t = time.perf_counter()
        sound = media.decode_audio(audio if audio is not None else video, decode_limits)
        timings["decode_audio"] = _ms(t)
        # Speech and the mouth's landmarks run on two threads of this call's own: not shared
        # between enrollments, so concurrent ones do not queue behind each other.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="enroll") as workers:
            speech = workers.submit(self._audio, sound, transcribe, expected_digits)
            run, timings_video = self._video(frames, workers)
        heard, voice_template, timings_audio = speech.result()
        timings.update(timings_video)
        timings.update(timings_audio)
        observed = run.observed
        seconds = observed[-1].time if observed else 0.0
        # A cut upload can still decode (the container's index at its start, frames up to the
        # cut): the video must run to about the length its own stream declares.
        if info.seconds and observed and seconds < info.seconds - max(1.0, 0.1 * info.seconds):
            raise MediaCorrupt("video", f"it ends at {seconds:.1f} s of the {info.seconds:.1f} s its container "
                                        "declares: the upload was cut")
        if not info.seconds and not self.limits.min_seconds <= seconds + 1 / self.limits.sample_fps:
            raise RecordingDurationOutOfRange(seconds, self.limits.min_seconds, self.limits.max_seconds)
        if len(observed) < self.limits.min_seconds * self.limits.sample_fps * 0.5:
            raise RecordingDurationOutOfRange(len(observed) / self.limits.sample_fps, self.limits.min_seconds,
                                              self.limits.max_seconds)
        t = time.perf_counter()
        face_templates = self._templates(run.crops)
        timings["embed_templates"] = _ms(t)
        timings["total"] = _ms(started)
        observations = Observations(tuple(observed), heard, MouthTrack(np.array([moment for moment, _ in run.mouth]),
                                                                       np.array([opening for _, opening in run.mouth])))
        return RecordingAnalysis(observations, face_templates, voice_template, timings)

    # --- video --------------------------------------------------------------------------------

    def _video(self, frames: object, mouth_worker: Executor) -> tuple[_VideoRun, dict[str, float]]:
        timings = {"decode_video": 0.0, "detect": 0.0, "landmarks": 0.0, "embed": 0.0, "pad": 0.0}
        run = _VideoRun(mouth_worker)
        batch: list[tuple[float, np.ndarray, bool]] = []
        next_analysis = 0.0
        t = time.perf_counter()
        for moment, image in frames:  # type: ignore[attr-defined]
            analyse = moment + 1e-6 >= next_analysis
            if analyse:
                next_analysis = moment + 1.0 / self.limits.sample_fps
            batch.append((moment, image, analyse))
            if len(batch) == self.limits.batch:
                timings["decode_video"] += _ms(t)
                self._batch(batch, run, timings)
                batch = []
                t = time.perf_counter()
        timings["decode_video"] += _ms(t)
        if batch:
            self._batch(batch, run, timings)
        t = time.perf_counter()
        self._collect_mouth(run)
        timings["mouth_wait"] = _ms(t)
        timings["landmarks"] = round(run.landmarks_ms, 2)
        return run, timings

    def _batch(self, batch: list[tuple[float, np.ndarray, bool]], run: _VideoRun, timings: dict[str, float]) -> None:
        analysed = [i for i, (_, _, analyse) in enumerate(batch) if analyse]
        images = [image for _, image, _ in batch]
        t = time.perf_counter()
        detected = dict(zip(analysed, self.detector.detect_batch([images[i] for i in analysed]), strict=True))
        timings["detect"] += _ms(t)
        gates = self.bio.gates
        # Every frame's face box: its own largest face when analysed, else the last analysed
        # frame's (a face moves little in the twelfth of a second or so between them).
        boxes: dict[int, DetectedFace] = {}
        for i in range(len(batch)):
            if i in detected:
                run.last_face = max(detected[i], key=lambda f: f.width * f.height) if detected[i] else None
            if run.last_face is not None:
                boxes[i] = run.last_face
        # The mouth is measured on a second core while this thread scores the faces and decodes
        # and detects the next batch (speech recognition frees that core after a second or so).
        # One batch's landmarks in flight at most, so decoded frames do not pile up in memory.
        self._collect_mouth(run)
        boxed = sorted(boxes)
        run.pending = run.mouth_worker.submit(self._mouth_openings, [batch[i][0] for i in boxed],
                                                [images[i] for i in boxed], [boxes[i] for i in boxed])
        with_face = [i for i in analysed if detected[i]]
        base = len(run.observed)
        order = {i: base + n for n, i in enumerate(analysed)}  # index among analysed frames
        embed_rows = [i for i in with_face if order[i] % self.limits.embed_every == 0]
        live_rows = [i for i in with_face if order[i] % self.limits.live_every == 0]
        aligned = {i: align(images[i], boxes[i].keypoints) for i in with_face}
        t = time.perf_counter()
        embeddings = dict(zip(embed_rows, self.bio.face_embedder.embed_batch(
            np.stack([aligned[i] for i in embed_rows])) if embed_rows else [], strict=True))
        timings["embed"] += _ms(t)
        t = time.perf_counter()
        live = dict(zip(live_rows, self.antispoof.live_scores([images[i] for i in live_rows],
                                                              [boxes[i] for i in live_rows]), strict=True))
        timings["pad"] += _ms(t)
        for i in analysed:
            moment, faces = batch[i][0], detected[i]
            if not faces:
                run.observed.append(FrameObservation(time=moment, faces=0))
                continue
            face = boxes[i]
            q = quality(face, aligned[i])
            others = [f for f in faces if f is not face
                      and min(f.width, f.height) >= gates.other_face_fraction * min(face.width, face.height)]
            ok = (q.size_px >= gates.min_face_px and q.sharpness >= gates.min_sharpness
                  and gates.min_brightness <= q.brightness <= gates.max_brightness)
            run.observed.append(FrameObservation(
                time=moment, faces=1 + len(others), size_px=q.size_px, quality_ok=ok, yaw=q.yaw_degrees,
                pitch=q.pitch_degrees, live=float(live[i]) if i in live else None, embedding=embeddings.get(i)))
            if ok and not others:
                # Templates come from the sharpest near-frontal frames.
                frontal = max(0.0, 1.0 - (abs(q.yaw_degrees) + abs(q.pitch_degrees)) / 45.0)
                score = frontal * min(q.sharpness, 500.0) * q.detector_score
                run.crops.append((score, aligned[i]))
                run.crops.sort(key=lambda c: -c[0])
                del run.crops[5:]

    def _mouth_openings(self, times: list[float], images: list[np.ndarray],
                        faces: list[DetectedFace]) -> tuple[list[tuple[float, float]], float]:
        t = time.perf_counter()
        points = self.landmarks.landmarks_batch(images, faces)
        openings = [(moment, mouth_opening(p, face)) for moment, p, face in zip(times, points, faces, strict=True)]
        return openings, _ms(t)

    def _collect_mouth(self, run: _VideoRun) -> None:
        """Wait for the batch of landmarks in flight, if any, and add its mouth openings."""
        if run.pending is not None:
            openings, spent_ms = run.pending.result()
            run.pending = None
            run.mouth.extend(openings)
            run.landmarks_ms += spent_ms

    def _templates(self, crops: list[tuple[float, np.ndarray]]) -> list[np.ndarray]:
        if not crops:
            return []
        return list(self.bio.face_embedder.embed_batch(np.stack([c for _, c in crops])))

    # --- audio --------------------------------------------------------------------------------

    def _audio(self, sound: media.Audio, transcribe: bool, expected_digits: str = ""
               ) -> tuple[AudioObservation, np.ndarray | None, dict[str, float]]:
        """What was heard, the voice template (None with too little speech) and the timings."""
        timings: dict[str, float] = {}
        gates = self.bio.gates
        self.bio.gate_audio(sound)
        samples = sound.samples
        t = time.perf_counter()
        speech = self.bio.vad.speech(samples)
        timings["vad"] = _ms(t)
        articulation = band_energies(samples, media.SAMPLE_RATE, shipped_model().band_edges_hz)
        t = time.perf_counter()
        parts: tuple[np.ndarray, ...] = ()
        template = None
        if speech.speech_seconds >= gates.min_speech_seconds:
            pieces = 3 if speech.speech_seconds >= 6.0 else 2
            step = len(speech.samples) // pieces
            segments = [speech.samples[i * step:(i + 1) * step] for i in range(pieces)]
            if step >= 0.6 * media.SAMPLE_RATE:
                parts = tuple(self.bio.voice_embedder.embed_batch(segments))
                # The template is the mean of the parts: one pass over the speech, not two.
                template = unit(np.mean(parts, axis=0))
            else:
                template = self.bio.voice_embedder.embed_batch([speech.samples])[0]
        timings["speaker"] = _ms(t)
        transcript = None
        support = None
        phonetic = None
        encoded = None
        phonetic_view = shipped_lip_sync().phonetic
        if self.recognizer is not None and phonetic_view is not None:
            # One encoder pass serves lip sync's phonetic view and the digits' support below.
            t = time.perf_counter()
            encoded = self.recognizer.encode(samples)
            phonetic = phonetic_view.projection.project(self.recognizer.encoder_states(encoded), len(articulation))
            timings["asr_encode"] = _ms(t)
        if transcribe and self.recognizer is not None and speech.speech_seconds > 0.3:
            t = time.perf_counter()
            transcript = self.recognizer.transcribe(samples)
            timings["asr"] = _ms(t)
            if expected_digits:
                t = time.perf_counter()
                support = self.recognizer.support(samples, expected_digits, spoken_digits(transcript), encoded=encoded)
                timings["asr_support"] = _ms(t)
        heard = AudioObservation(seconds=sound.seconds, speech_seconds=speech.speech_seconds, vad=speech.probabilities,
                                 articulation=articulation, voice_parts=parts, transcript=transcript,
                                 digit_support=support, phonetic=phonetic)
        return heard, template, timings


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
