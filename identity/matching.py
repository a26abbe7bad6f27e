"""Templates, 1:1 verification and 1:N search: the identity domain's likeness matching.
Templates are sealed by the vault before they reach storage; decrypted ones exist only in this
process (the search index, one verification). Every replica keeps its index current by polling
the template change feed."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import structlog

from auditlog.model import Actor, Outcome
from identity.model import EnrollmentRecord, EnrollmentStatus, FoundFace, TemplateBinding, TemplateRecord
from identity.ports import (
    AuditRecorder,
    IdentityMetrics,
    IdentityStore,
    IdentityStoreTx,
    KekNotLoaded,
    LikenessProbe,
    TemplateSealer,
    TemplateUnreadable,
)
from identity.search_index import FaceIndex, Hit
from identity.vectors import unit
from kernel.clock import Clock, to_us, utc_now
from kernel.errors import (
    EnrollmentNotActive,
    EnrollmentNotFound,
    FieldInvalid,
    LikenessTaken,
    NoFace,
    TemplateKeyUnavailable,
    TemplatesUnreadable,
)

log = structlog.get_logger(__name__)

VIDEO_SAMPLE_SECONDS = 0.5
VIDEO_MAX_FRAMES = 20
# Faces in different frames of a search video belong to one track above this similarity.
TRACK_SIMILARITY = 0.5
# Change-feed rows are re-read this far back, so a transaction that committed late (with an
# earlier timestamp than rows already seen) is never missed. Applying a change is idempotent.
CHANGE_WINDOW_US = 30_000_000


class MediaKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Thresholds:
    face: float
    voice: float


@dataclass(frozen=True, slots=True)
class ModalityScore:
    modality: str
    score: float
    threshold: float

    @property
    def matched(self) -> bool:
        return self.score >= self.threshold


class Verdict(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Verification:
    verdict: Verdict
    scores: tuple[ModalityScore, ...]


@dataclass(frozen=True, slots=True)
class FaceFound:
    box: np.ndarray  # x1, y1, x2, y2
    candidates: tuple[Hit, ...]


@dataclass(slots=True)
class _Probe:
    faces: list[FoundFace] = field(default_factory=list)
    voice: np.ndarray | None = None


class LikenessService:
    def __init__(
        self, store: IdentityStore, vault: TemplateSealer, audit: AuditRecorder, probe: LikenessProbe,
        thresholds: Thresholds, *, metrics: IdentityMetrics, clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._vault = vault
        self._audit = audit
        self._probe_media = probe
        self._models = probe.model_versions()
        self.thresholds = thresholds
        self._clock = clock
        self.index = FaceIndex(dimension=probe.dimension)
        self._cursor_us = 0
        self._refresh_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        metrics.track_index(lambda: float(len(self.index)), lambda: float(self.index.subjects))
        self._stop = threading.Event()

    # --- the index ----------------------------------------------------------------------------

    def build_index(self) -> int:
        """Load every current face template; flag subjects whose templates a previous model made."""
        started = time.perf_counter()
        self._cursor_us = to_us(self._clock())
        # Built aside and swapped in whole, so searches meanwhile see the old index, not half a new one.
        index = FaceIndex(dimension=self.index.dimension)
        stale: set[str] = set()
        after = ("", "")
        current_subject, keys = "", b""
        vectors: list[np.ndarray] = []
        while True:
            with self._store.read() as tx:
                page = tx.scan_templates(after=after, limit=2000)
                for record in page:
                    if record.subject_id != current_subject:
                        if vectors:
                            index.put(current_subject, np.stack(vectors))
                        current_subject, vectors = record.subject_id, []
                        keys = self._data_key(tx, record.subject_id) or b""
                    if not self._current(record):
                        stale.add(record.subject_id)
                        continue
                    if record.modality == "face" and keys:
                        try:
                            vectors.append(self._vault.open(keys, record))
                        except TemplateUnreadable:
                            log.error("template_unreadable", subject_id=record.subject_id)
            if len(page) < 2000:
                break
            after = (page[-1].subject_id, page[-1].template_id)
        if vectors:
            index.put(current_subject, np.stack(vectors))
        self.index = index
        if stale:
            self._mark_stale(stale)
        log.info("search_index_built", templates=len(self.index), subjects=self.index.subjects,
                 stale_subjects=len(stale), seconds=round(time.perf_counter() - started, 3))
        return len(self.index)

    def refresh(self) -> int:
        """Apply template changes made anywhere (this or another replica) since the last look."""
        with self._refresh_lock:
            with self._store.read() as tx:
                changes = tx.template_changes_since(self._cursor_us - CHANGE_WINDOW_US)
            subjects = {s for s, _ in changes}
            if changes:
                self._cursor_us = max(self._cursor_us, max(t for _, t in changes))
            for subject_id in subjects:
                self._reload(subject_id)
            return len(subjects)

    def _reload(self, subject_id: str) -> None:
        with self._store.read() as tx:
            records = [r for r in tx.list_templates(subject_id) if r.modality == "face" and self._current(r)]
            key = self._data_key(tx, subject_id) if records else None
        if not records or key is None:
            self.index.remove(subject_id)
            return
        try:
            self.index.put(subject_id, np.stack([self._vault.open(key, r) for r in records]))
        except TemplateUnreadable:
            log.error("template_unreadable", subject_id=subject_id)
            self.index.remove(subject_id)

    def start_polling(self, interval_seconds: float) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                try:
                    self.refresh()
                except Exception:
                    log.exception("search_index_refresh_failed")

        self._poller = threading.Thread(target=loop, name="index-poll", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)

    def _data_key(self, tx: IdentityStoreTx, subject_id: str, *, strict: bool = False) -> bytes | None:
        """The subject's data key; None when it cannot be unwrapped. ``strict``: a KEK that is not
        loaded raises TemplateKeyUnavailable (an operator's problem, never the person's)."""
        record = tx.get_subject_key(subject_id)
        if record is None:
            return None
        try:
            return self._vault.data_key(record)
        except KekNotLoaded as exc:
            log.error("template_key_not_loaded", subject_id=subject_id, kek_id=exc.kek_id)
            if strict:
                raise TemplateKeyUnavailable(exc.kek_id) from exc
            return None
        except TemplateUnreadable:
            log.error("subject_key_unreadable", subject_id=subject_id)
            return None

    def _current(self, record: TemplateRecord) -> bool:
        return self._models.get(record.modality) == (record.model_id, record.model_version)

    def _mark_stale(self, subjects: set[str]) -> None:
        now = self._clock()
        with self._store.write() as tx:
            for subject_id in sorted(subjects):
                record = tx.get_enrollment(subject_id)
                if record is not None and record.status == EnrollmentStatus.ACTIVE:
                    tx.put_enrollment(EnrollmentRecord(
                        subject_id=subject_id, status=EnrollmentStatus.STALE, create_time=record.create_time,
                        update_time=now, template_models=record.template_models))
        log.warning("templates_stale", subjects=len(subjects), why="made by a model that is no longer current")

    # --- storing templates ------------------------------------------------------------------

    def store_templates(
        self, subject_id: str, faces: Sequence[np.ndarray], voice: np.ndarray | None, *, actor: Actor,
    ) -> tuple[str, ...]:
        """Seal and store a subject's templates (replacing any), mark the enrollment ACTIVE.
        Refuses a face that is already another subject's likeness: one person, one cameo."""
        if not len(faces):
            raise NoFace()
        face_matrix = np.stack([np.asarray(f, dtype=np.float32) for f in faces])
        probe = unit(face_matrix.mean(axis=0))
        owner = next((h for h in self.index.search(probe[None], 3)[0]
                      if h.subject_id != subject_id and h.score >= self.thresholds.face), None)
        if owner is not None:
            self._audit.record_committed(actor.draft(
                "identity.templates.store", Outcome.DENY, subject_id=subject_id, reason="LIKENESS_TAKEN",
                details={"enrolled_subject": owner.subject_id, "score": f"{owner.score:.3f}"}))
            raise LikenessTaken().mark_audited()
        now = self._clock()
        models: list[str] = []
        with self._store.write() as tx:
            key_record = tx.get_subject_key(subject_id)
            if key_record is None:
                key_record, dek = self._vault.new_subject_key(subject_id, now)
                tx.put_subject_key(key_record)
            else:
                dek = self._vault.data_key(key_record)
            records = []
            for modality, vectors in (("face", list(face_matrix)), ("voice", [] if voice is None else [voice])):
                model_id, version = self._models[modality]
                for vector in vectors:
                    binding = TemplateBinding(secrets.token_hex(16), subject_id, modality, model_id, version)
                    records.append(self._vault.seal(dek, binding, vector, now))
                if vectors:
                    models.append(f"{model_id}@{version}")
            tx.replace_templates(subject_id, records)
            existing = tx.get_enrollment(subject_id)
            tx.put_enrollment(EnrollmentRecord(
                subject_id=subject_id, status=EnrollmentStatus.ACTIVE,
                create_time=existing.create_time if existing else now, update_time=now,
                template_models=tuple(models)))
            self._audit.record(tx, actor.draft(
                "identity.templates.store", Outcome.SUCCESS, subject_id=subject_id,
                details={"face_templates": str(len(face_matrix)), "voice_templates": str(0 if voice is None else 1),
                         "models": ",".join(models)}))
        self.index.put(subject_id, face_matrix)
        return tuple(models)

    def forget(self, subject_id: str) -> None:
        """Drop a deleted subject from this replica's index at once (others follow the feed)."""
        self.index.remove(subject_id)

    # --- verification -----------------------------------------------------------------------

    def verify(self, subject_id: str, kind: MediaKind, content: bytes, *, actor: Actor) -> Verification:
        with self._store.read() as tx:
            enrollment = tx.get_enrollment(subject_id)
            if enrollment is None:
                raise EnrollmentNotFound(subject_id)
            if enrollment.status != EnrollmentStatus.ACTIVE:
                raise EnrollmentNotActive(subject_id, enrollment.status.value)
            records = [r for r in tx.list_templates(subject_id) if self._current(r)]
            key = self._data_key(tx, subject_id, strict=True)
        if records and key is None:
            raise TemplatesUnreadable(subject_id)
        if not records or key is None:
            raise EnrollmentNotActive(subject_id, "without usable templates")
        templates: dict[str, list[np.ndarray]] = {}
        try:
            for record in records:
                templates.setdefault(record.modality, []).append(self._vault.open(key, record))
        except TemplateUnreadable as exc:
            log.error("templates_unreadable", subject_id=subject_id, error=str(exc))
            self._audit.record_committed(actor.draft("identity.likeness.verify", Outcome.FAILURE,
                                                     subject_id=subject_id, reason="TEMPLATES_UNREADABLE"))
            raise TemplatesUnreadable(subject_id).mark_audited() from exc
        probe = self._probe(kind, content, want_voice="voice" in templates, single_face=True)
        scores: list[ModalityScore] = []
        if probe.faces and "face" in templates:
            face = probe.faces[0].embedding
            scores.append(ModalityScore("face", max(float(t @ face) for t in templates["face"]), self.thresholds.face))
        if probe.voice is not None and "voice" in templates:
            scores.append(ModalityScore("voice", max(float(t @ probe.voice) for t in templates["voice"]),
                                        self.thresholds.voice))
        if not scores:
            verdict = Verdict.INCONCLUSIVE
        else:
            # Every modality the probe holds must match: a face that matches with a voice that
            # does not is someone wearing a likeness, not the person.
            verdict = Verdict.MATCH if all(s.matched for s in scores) else Verdict.NO_MATCH
        self._audit.record_committed(actor.draft(
            "identity.likeness.verify", Outcome.SUCCESS, subject_id=subject_id, reason=verdict.value.upper(),
            details={"modalities": ",".join(s.modality for s in scores), "media": kind.value}))
        return Verification(verdict, tuple(scores))

    # --- search -------------------------------------------------------------------------------

    def search(self, kind: MediaKind, content: bytes, top_k: int, *, actor: Actor) -> list[FaceFound]:
        if kind == MediaKind.AUDIO:
            raise FieldInvalid("media.container", "search looks for faces: send an image or a video")
        probe = self._probe(kind, content, want_voice=False, single_face=False)
        queries = np.stack([f.embedding for f in probe.faces]) if probe.faces else np.zeros((0, 512), np.float32)
        hits = self.index.search(queries, top_k) if len(queries) else []
        found = [FaceFound(face.box, tuple(h)) for face, h in zip(probe.faces, hits, strict=True)]
        matched = sorted({h.subject_id for f in found for h in f.candidates if h.score >= self.thresholds.face})
        self._audit.record_committed(actor.draft(
            "identity.likeness.search", Outcome.SUCCESS, reason="MATCH" if matched else "NO_MATCH",
            details={"faces": str(len(found)), "matched_subjects": ",".join(matched)[:1000], "media": kind.value}))
        return found

    # --- probes -------------------------------------------------------------------------------

    def _probe(self, kind: MediaKind, content: bytes, *, want_voice: bool, single_face: bool) -> _Probe:
        probe = _Probe()
        if kind == MediaKind.IMAGE:
            probe.faces = self._probe_media.image_faces(content, largest_only=single_face)
        elif kind == MediaKind.AUDIO:
            probe.voice = self._probe_media.voice(content)
        else:
            per_frame, has_audio = self._probe_media.video_faces(
                content, every_seconds=VIDEO_SAMPLE_SECONDS, max_frames=VIDEO_MAX_FRAMES, largest_only=single_face)
            probe.faces = _tracks(per_frame, single_face)
            if want_voice and has_audio:
                probe.voice = self._probe_media.voice(content)
        return probe


def _tracks(per_frame: list[list[FoundFace]], single_face: bool) -> list[FoundFace]:
    """Faces across video frames grouped into people: each track's mean embedding, with the box
    of its largest appearance. For verification, only the largest face of each frame counts."""
    tracks: list[list[FoundFace]] = []
    for faces in per_frame:
        if single_face and faces:
            faces = [max(faces, key=lambda f: f.size_px)]
        for face in faces:
            similarity = [float(_mean(t) @ face.embedding) for t in tracks]
            best = int(np.argmax(similarity)) if similarity else -1
            if best >= 0 and similarity[best] >= TRACK_SIMILARITY:
                tracks[best].append(face)
            else:
                tracks.append([face])
    merged = []
    for track in sorted(tracks, key=len, reverse=True):
        largest = max(track, key=lambda f: f.size_px)
        merged.append(FoundFace(_mean(track), largest.box, largest.size_px))
    return merged[:1] if single_face else merged


def _mean(track: list[FoundFace]) -> np.ndarray:
    return unit(np.mean([f.embedding for f in track], axis=0))
