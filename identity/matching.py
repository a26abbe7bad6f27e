"""Templates, 1:1 verification and 1:N search: the identity domain's likeness matching.
Templates are sealed by the vault before they reach storage; decrypted ones exist only in this
process (the search index, one verification). Every replica keeps its index current by polling
the template change feed."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import structlog

from auditlog.model import Actor, Outcome
from identity.model import (
    EnrollmentRecord,
    EnrollmentStatus,
    FoundFace,
    SubjectKeyRecord,
    TemplateBinding,
    TemplateRecord,
)
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
from identity.search_index import Hit, IndexFactory, SearchIndex, exact_index, rerank
from identity.vectors import unit
from kernel.clock import Clock, to_us, utc_now
from kernel.errors import (
    EnrollmentNotActive,
    EnrollmentNotFound,
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
# Subjects handed to an index at once while it is built.
BUILD_BATCH_SUBJECTS = 1000
# A long index build reports how far it has come this often.
BUILD_PROGRESS_SECONDS = 10.0
# Change-feed rows are re-read this far back, so a transaction that committed late (with an
# earlier timestamp than rows already seen) is never missed. Applying a change is idempotent.
CHANGE_WINDOW_US = 30_000_000


class MediaKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """1:1 thresholds (verification), and the 1:N ones for a gallery of ``subjects`` people:
    a search compares a probe with everyone, so its chance of a false match grows with the
    gallery, and its threshold must rise with it to hold a false-positive identification rate
    (``search``; by default the 1:1 thresholds at every size)."""

    face: float
    voice: float
    search: Callable[[str, int], float] | None = None

    def for_search(self, modality: str, subjects: int) -> float:
        one_to_one = self.face if modality == "face" else self.voice
        return one_to_one if self.search is None else max(one_to_one, self.search(modality, subjects))


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


@dataclass(frozen=True, slots=True)
class LikenessSearch:
    """Whose likeness is in the media: candidates per face, and for the voice of its audio."""

    faces: list[FaceFound]
    voice: tuple[Hit, ...] | None  # None: no audio track, or no speech in it
    face_threshold: float  # a candidate at or above it is a match (for this gallery's size)
    voice_threshold: float


@dataclass(slots=True)
class _Probe:
    faces: list[FoundFace] = field(default_factory=list)
    voice: np.ndarray | None = None


class LikenessService:
    def __init__(
        self, store: IdentityStore, vault: TemplateSealer, audit: AuditRecorder, probe: LikenessProbe,
        thresholds: Thresholds, *, metrics: IdentityMetrics, clock: Clock = utc_now,
        index_factory: IndexFactory = exact_index,
    ) -> None:
        self._store = store
        self._vault = vault
        self._audit = audit
        self._probe_media = probe
        self._models = probe.model_versions()
        self.thresholds = thresholds
        self._clock = clock
        self._index_factory = index_factory
        self.index: SearchIndex = index_factory(probe.dimension, 0)
        self.voice_index: SearchIndex = index_factory(probe.voice_dimension, 0)
        self._cursor_us = 0
        self._refresh_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        metrics.track_index(lambda: float(len(self.index)), lambda: float(self.index.subjects),
                            lambda: float(self.index.nbytes() + self.voice_index.nbytes()))
        self._stop = threading.Event()

    # --- the index ----------------------------------------------------------------------------

    def build_index(self) -> int:
        """Load every current face and voice template; flag subjects whose templates a previous
        model made. Logs its progress every ``BUILD_PROGRESS_SECONDS``; returns face templates."""
        started = time.perf_counter()
        self._cursor_us = to_us(self._clock())
        with self._store.read() as tx:
            counts = tx.count_templates()
        total = sum(counts.values())
        # Built aside and swapped in whole, so searches meanwhile see the old index, not half a new one.
        faces = self._index_factory(self.index.dimension, counts.get("face", 0))
        voices = self._index_factory(self.voice_index.dimension, counts.get("voice", 0))
        stale: set[str] = set()
        after = ("", "")
        current_subject, key = "", b""
        vectors: dict[str, list[np.ndarray]] = {"face": [], "voice": []}
        # Subjects are added in batches: an approximate index adds thousands of rows in the time
        # it takes to add one (faiss starts its threads per call).
        batches: dict[str, list[tuple[str, np.ndarray]]] = {"face": [], "voice": []}
        indexes = {"face": faces, "voice": voices}
        loaded, reported = 0, time.perf_counter()

        def flush(subject_done: bool = True) -> None:
            for modality, mine in vectors.items():
                if subject_done and mine:
                    batches[modality].append((current_subject, np.stack(mine)))
                if batches[modality] and (not subject_done or len(batches[modality]) >= BUILD_BATCH_SUBJECTS):
                    indexes[modality].put_many(batches[modality])
                    batches[modality] = []

        while True:
            with self._store.read() as tx:
                page = tx.scan_templates(after=after, limit=2000)
                keys = {k.subject_id: k for k in tx.subject_keys_of(sorted({r.subject_id for r in page}))}
            for record in page:
                if record.subject_id != current_subject:
                    flush()
                    current_subject, vectors = record.subject_id, {"face": [], "voice": []}
                    key = self._unwrap(keys.get(record.subject_id), record.subject_id) or b""
                if not self._current(record):
                    stale.add(record.subject_id)
                    continue
                if record.modality in vectors and key:
                    try:
                        vectors[record.modality].append(self._vault.open(key, record))
                    except TemplateUnreadable:
                        log.error("template_unreadable", subject_id=record.subject_id)
            loaded += len(page)
            if time.perf_counter() - reported >= BUILD_PROGRESS_SECONDS:
                reported = time.perf_counter()
                log.info("search_index_build_progress", templates_read=loaded, templates_total=total,
                         percent=round(100 * loaded / max(1, total), 1),
                         seconds=round(reported - started, 1))
            if len(page) < 2000:
                break
            after = (page[-1].subject_id, page[-1].template_id)
        flush()
        flush(subject_done=False)
        self.index, self.voice_index = faces, voices
        if stale:
            self._mark_stale(stale)
        log.info("search_index_built", templates=len(faces), subjects=faces.subjects, voice_templates=len(voices),
                 index=type(faces).__name__, bytes_per_template=round(faces.nbytes() / max(1, len(faces))),
                 stale_subjects=len(stale), seconds=round(time.perf_counter() - started, 3))
        return len(faces)

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
            records = [r for r in tx.list_templates(subject_id) if self._current(r)]
            key = self._data_key(tx, subject_id) if records else None
        for modality, index in (("face", self.index), ("voice", self.voice_index)):
            mine = [r for r in records if r.modality == modality]
            if not mine or key is None:
                index.remove(subject_id)
                continue
            try:
                index.put(subject_id, np.stack([self._vault.open(key, r) for r in mine]))
            except TemplateUnreadable:
                log.error("template_unreadable", subject_id=subject_id)
                index.remove(subject_id)

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
        return self._unwrap(tx.get_subject_key(subject_id), subject_id, strict=strict)

    def _unwrap(self, record: SubjectKeyRecord | None, subject_id: str, *, strict: bool = False) -> bytes | None:
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
        # A claim on another subject's face is a 1:N decision: the search threshold.
        taken_at = self.thresholds.for_search("face", self.index.subjects)
        owner = next((h for h in self.search_vectors("face", probe[None], 3)[0]
                      if h.subject_id != subject_id and h.score >= taken_at), None)
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
        if voice is None:
            self.voice_index.remove(subject_id)
        else:
            self.voice_index.put(subject_id, np.asarray(voice, dtype=np.float32)[None])
        return tuple(models)

    def forget(self, subject_id: str) -> None:
        """Drop a deleted subject from this replica's indexes at once (others follow the feed)."""
        self.index.remove(subject_id)
        self.voice_index.remove(subject_id)

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

    def search(self, kind: MediaKind, content: bytes, top_k: int, *, actor: Actor) -> LikenessSearch:
        """Whose likeness the media holds: each face (image, video) and the voice (audio, a
        video's audio track) against every enrolled subject, ``top_k`` candidates each."""
        probe = self._probe(kind, content, want_voice=kind != MediaKind.IMAGE, single_face=False)
        found: list[FaceFound] = []
        if probe.faces:
            queries = np.stack([f.embedding for f in probe.faces])
            hits = self.search_vectors("face", queries, top_k)
            found = [FaceFound(face.box, tuple(h)) for face, h in zip(probe.faces, hits, strict=True)]
        voice = None
        if probe.voice is not None:
            voice = tuple(self.search_vectors("voice", probe.voice[None], top_k)[0])
        face_at = self.thresholds.for_search("face", self.index.subjects)
        voice_at = self.thresholds.for_search("voice", self.voice_index.subjects)
        matched = {h.subject_id for f in found for h in f.candidates if h.score >= face_at}
        matched |= {h.subject_id for h in voice or () if h.score >= voice_at}
        self._audit.record_committed(actor.draft(
            "identity.likeness.search", Outcome.SUCCESS, reason="MATCH" if matched else "NO_MATCH",
            details={"faces": str(len(found)), "voice": "1" if voice is not None else "0",
                     "matched_subjects": ",".join(sorted(matched))[:1000], "media": kind.value}))
        return LikenessSearch(found, voice, face_at, voice_at)

    def search_vectors(self, modality: str, queries: np.ndarray, top_k: int) -> list[list[Hit]]:
        """``top_k`` subjects per query (face or voice embeddings) with exact scores: an
        approximate index's candidates are re-scored against their decrypted templates, read in
        one transaction."""
        index = self.index if modality == "face" else self.voice_index
        hits = index.search(queries, top_k)
        if index.exact:
            return hits
        subjects = sorted({h.subject_id for per_query in hits for h in per_query})
        return rerank(queries, hits, self._decrypt(subjects, modality), top_k)

    def _decrypt(self, subject_ids: list[str], modality: str) -> dict[str, np.ndarray]:
        """The current templates of a modality of these subjects; a subject whose templates or
        key cannot be read is left out (and logged), as the index build leaves it out."""
        if not subject_ids:
            return {}
        with self._store.read() as tx:
            records = [r for r in tx.templates_of(subject_ids) if r.modality == modality and self._current(r)]
            keys = {k.subject_id: k for k in tx.subject_keys_of(subject_ids)}
        grouped: dict[str, list[TemplateRecord]] = {}
        for record in records:
            grouped.setdefault(record.subject_id, []).append(record)
        vectors: dict[str, np.ndarray] = {}
        for subject_id, mine in grouped.items():
            key_record = keys.get(subject_id)
            if key_record is None:
                continue
            try:
                key = self._vault.data_key(key_record)
                vectors[subject_id] = np.stack([self._vault.open(key, r) for r in mine])
            except TemplateUnreadable:
                log.error("template_unreadable", subject_id=subject_id)
        return vectors

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
