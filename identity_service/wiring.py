"""Builds the application from settings: storage, domain services. No transport here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import structlog

from auditlog.log import AuditLog
from auditlog.model import Actor, ActorType, AuditDraft, Outcome
from consent.ports import ConsentStoreTx, ConsentTx
from consent.service import ConsentService
from identity.enrollment import EnrollmentService
from identity_service.metrics import PrometheusIdentityMetrics
from identity_service.settings import Settings
from identity_service.signing import Keyring
from identity_service.storage import migrate
from identity_service.storage.base import Store, Tx
from identity_service.storage.sql import SqlStore
from identity_service.uploads import UploadSlots
from identity_service.vault.keys import FileKeyring, KeyEncryptionKeys, keyring_from_env
from identity_service.vault.vault import TemplateVault

if TYPE_CHECKING:
    from identity.enroll_recording import RecordingEnrollment
    from identity.matching import LikenessService
    from identity_service.inference.biometrics import Biometrics
    from identity_service.inference.recording import RecordingAnalyzer
    from liveness.checks import LivenessPolicy

log = structlog.get_logger(__name__)

A = TypeVar("A")
R = TypeVar("R")


@dataclass
class App:
    """Everything a transport needs to serve requests."""

    settings: Settings
    store: Store
    keyring: Keyring
    audit: AuditLog[Tx]
    enrollments: EnrollmentService
    consent: ConsentService
    vault: TemplateVault
    # Face and voice models; None where a process needs none (operator commands, some tests).
    biometrics: Biometrics | None = None
    # Templates, verification and search: present when biometrics are.
    likeness: LikenessService | None = None
    # The liveness upload: present when the recording analyser is.
    enroller: RecordingEnrollment | None = None
    # Enrollment uploads in progress, one cap for the process: the gRPC Enroll and the user API's
    # recording route draw on the same slots, so the setting means what it says.
    uploads: UploadSlots | None = None

    def __post_init__(self) -> None:
        if self.uploads is None:
            self.uploads = UploadSlots(self.settings.enroll_upload_slots())

    def close(self) -> None:
        if self.likeness is not None:
            self.likeness.close()
        self.audit.close()
        self.store.close()

    def record_auth_failure(self, *, method: str, caller: str, reason: str, request_id: str, peer: str) -> None:
        """Audit a refused caller. Never masks the refusal: a failure to record is logged."""
        try:
            self.audit.record_committed(
                AuditDraft(
                    actor_type=ActorType.SERVICE, actor_id=caller or "unknown", action="auth.caller.refused",
                    outcome=Outcome.DENY, reason=reason, request_id=request_id,
                    details={"method": method, "peer": peer},
                )
            )
        except Exception:
            log.exception("audit_record_failed", action="auth.caller.refused", request_id=request_id)


    def record_refusal(self, *, method: str, caller: str, reason: str, request_id: str, field: str) -> None:
        """Audit a call refused after authentication that no domain code audited (validation,
        a bad header, an undecodable probe). Never masks the refusal: a failure to record is logged."""
        try:
            details = {"method": method}
            if field:
                details["field"] = field
            self.audit.record_committed(AuditDraft(
                actor_type=ActorType.SERVICE, actor_id=caller, action="rpc.refused", outcome=Outcome.FAILURE,
                reason=reason, request_id=request_id, details=details))
        except Exception:
            log.exception("audit_record_failed", action="rpc.refused", request_id=request_id)


def load_biometrics(settings: Settings) -> Biometrics:
    """Every model, checked against the manifest. ModelsUnavailable names what is missing or altered."""
    from identity_service.inference.biometrics import Biometrics, QualityGates

    gates = QualityGates(min_face_px=settings.face_min_px, min_sharpness=settings.face_min_sharpness,
                         min_speech_seconds=settings.speech_min_seconds)
    return Biometrics.load(settings.resolved_model_dir(), device=settings.inference_device,
                           threads=settings.inference_threads, gates=gates)


def load_recording_analyzer(settings: Settings, biometrics: Biometrics | None = None) -> RecordingAnalyzer:
    """The enrollment recording analyser: biometrics plus landmarks, anti-spoofing and ASR."""
    from identity_service.inference.antispoof import AntiSpoof
    from identity_service.inference.asr import SpeechRecognizer
    from identity_service.inference.landmarks import LandmarkModel
    from identity_service.inference.ort import SessionCache
    from identity_service.inference.recording import RecordingAnalyzer, RecordingLimits
    from identity_service.inference.store import require

    bio = biometrics or load_biometrics(settings)
    model_dir = settings.resolved_model_dir()
    # Hashed, not only sized: a flipped byte must be refused by name, not loaded (or crash
    # onnxruntime with a traceback). About 0.1 s for these three.
    require(model_dir, ("face_landmarks", "face_antispoof", "speech_recognizer"), deep=True)
    sessions = SessionCache(device=settings.inference_device, intra_op_threads=settings.inference_threads)
    return RecordingAnalyzer(
        bio, LandmarkModel(sessions.get(model_dir / "face_landmarks" / "2d106det.onnx")),
        AntiSpoof(sessions.get(model_dir / "face_antispoof" / "MiniFASNetV2.onnx"),
                  sessions.get(model_dir / "face_antispoof" / "MiniFASNetV1SE.onnx")),
        SpeechRecognizer(model_dir / "speech_recognizer", device=settings.inference_device,
                         threads=settings.inference_threads),
        RecordingLimits(min_seconds=settings.enroll_min_seconds, max_seconds=settings.enroll_max_seconds,
                        max_pixels=settings.enroll_max_pixels),
    )


def template_keys(settings: Settings) -> KeyEncryptionKeys:
    """Key encryption keys from LIKENESS_TEMPLATE_KEYS, else the key file (created on first use)."""
    if settings.template_keys is not None and settings.template_keys.get_secret_value():
        return keyring_from_env(settings.template_keys.get_secret_value())
    return FileKeyring.load_or_create(settings.resolved_template_key_file())


def liveness_policy(settings: Settings) -> LivenessPolicy:
    from liveness.checks import CheckKind, LivenessPolicy

    # Names were checked when the settings were read (Settings._known_checks).
    optional = {CheckKind(name) for name in settings.liveness_optional_checks}
    return LivenessPolicy(required=frozenset(CheckKind) - optional,
                          min_lip_sync_seconds=settings.liveness_min_lip_sync_seconds)


def build_app(
    settings: Settings, *, store: Store | None = None, migrate_now: bool | None = None,
    biometrics: Biometrics | None = None, analyzer: RecordingAnalyzer | None = None,
) -> App:
    """Wire the service. Migrates on start when the settings say so (SQLite by default)."""
    sql = store or SqlStore.from_url(settings.resolved_database_url())
    do_migrate = settings.should_migrate_on_start() if migrate_now is None else migrate_now
    if do_migrate and isinstance(sql, SqlStore):
        migrate.upgrade(sql.engine)
        log.info("database_migrated", revision=migrate.head_revision(), dialect=sql.dialect)
    elif isinstance(sql, SqlStore):
        current = migrate.current_revision(sql.engine)
        if current != migrate.head_revision():
            raise SystemExit(
                f"database schema is at {current or 'nothing'}, code needs "
                f"{migrate.head_revision()}: run `identity-service db upgrade`"
            )
    keyring = Keyring.load_or_create(settings.resolved_signing_key_file())
    audit = AuditLog(sql, keyring, checkpoint_every=settings.audit_checkpoint_every)

    def consent_auditor(
        tx: ConsentStoreTx, actor: Actor, *, action: str, outcome: str, subject_id: str, reason: str = "",
        details: dict[str, str] | None = None,
    ) -> None:
        draft = actor.draft(action, Outcome(outcome), subject_id=subject_id, reason=reason, details=details)
        audit.record(tx, draft)

    def consent_grouped(
        work: Callable[[ConsentTx, Sequence[A]], Sequence[tuple[R | Exception, AuditDraft | None]]], arg: A,
    ) -> R:
        # The group's SQL transaction is the ConsentTx the work reads through.
        result, _ = audit.run_grouped(work, arg)
        return result

    vault = TemplateVault(template_keys(settings))
    likeness = None
    if biometrics is not None:
        from identity.matching import LikenessService, Thresholds
        from identity_service.inference.calibration import FACE, VOICE
        from identity_service.inference.probe import MediaProbe

        fpir = settings.search_target_fpir

        def search_threshold(modality: str, subjects: int) -> float:
            # Each of n comparisons may match falsely: FMR = FPIR / n keeps a stranger's search
            # at FPIR, whatever the gallery's size.
            return (FACE if modality == "face" else VOICE).threshold(min(fpir, fpir / max(1, subjects)))

        thresholds = Thresholds(
            face=settings.face_match_threshold if settings.face_match_threshold is not None
            else FACE.threshold(settings.match_target_fmr),
            voice=settings.voice_match_threshold if settings.voice_match_threshold is not None
            else VOICE.threshold(settings.match_target_fmr),
            search=search_threshold,
        )
        from identity_service.inference.media import MediaLimits

        probe_limits = MediaLimits(max_pixels=settings.media_max_pixels, max_seconds=settings.media_max_seconds)
        from identity_service.search.ann_index import index_factory

        likeness = LikenessService(
            sql, vault, audit, MediaProbe(biometrics, probe_limits), thresholds, metrics=PrometheusIdentityMetrics(),
            index_factory=index_factory(settings.search_index, ivf_min_templates=settings.search_ivf_min_templates,
                                        nprobe=settings.search_ivf_nprobe, lists=settings.search_ivf_lists))
    enroller = None
    if likeness is not None and analyzer is not None:
        from identity.enroll_recording import RecordingEnrollment

        enroller = RecordingEnrollment(sql, audit, analyzer, likeness, liveness_policy(settings),
                                       metrics=PrometheusIdentityMetrics(),
                                       replay_window=timedelta(seconds=settings.enroll_replay_window_seconds))
    enrollments = EnrollmentService(
        sql, audit, session_ttl=timedelta(seconds=settings.enrollment_session_ttl_seconds),
        max_attempts=settings.enrollment_max_attempts,
        attempt_window=timedelta(seconds=settings.enrollment_attempt_window_seconds),
    )
    if likeness is not None:
        enrollments.erased_listeners.append(likeness.forget)
    return App(
        settings=settings,
        store=sql,
        keyring=keyring,
        audit=audit,
        enrollments=enrollments,
        consent=ConsentService(
            sql, consent_auditor, consent_grouped, keyring.active(), issuer=settings.token_issuer,
            token_ttl_seconds=settings.token_ttl_seconds,
        ),
        vault=vault,
        biometrics=biometrics,
        likeness=likeness,
        enroller=enroller,
    )
