"""Templates, verification and search with real faces and voices, on SQLite and PostgreSQL, and
over gRPC: encrypted at rest, bound to their rows, shredded with their subject, and kept current
in every replica's index."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from sqlalchemy import text

from auditlog.model import Actor, ActorType
from identity.matching import LikenessService, MediaKind, Verdict
from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from identity_service.storage.sql import SqlStore
from identity_service.wiring import App, build_app
from kernel.errors import DomainError
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as rpc
from tests.conftest import POSTGRES_URL, SHARED, RunningServer, error_info, serving, test_settings

FACES = SHARED / "data" / "faces"
OBAMA = FACES / "knn_examples/train/obama/obama.jpg"
OBAMA_OTHER = FACES / "test_images/obama3.jpg"
BIDEN = FACES / "knn_examples/train/biden/biden2.jpg"
ROSE = FACES / "knn_examples/train/rose_leslie/img1.jpg"
CNN = SHARED / "data" / "talking"
SPEECH = SHARED / "data" / "speech" / "librispeech"
ACTOR = Actor(ActorType.SERVICE, "test-app")


@pytest.fixture(params=["exact", "ivf"])
def app(request: pytest.FixtureRequest, store: SqlStore, tmp_path: Path, biometrics: Biometrics) -> Iterator[App]:
    """Every test here runs with the brute-force index and with the approximate one (whose
    answers the exact re-rank must make the same)."""
    built = build_app(test_settings(tmp_path, search_index=request.param), store=store, migrate_now=False,
                      biometrics=biometrics)
    try:
        yield built
    finally:
        built.close()


def service(app: App) -> LikenessService:
    assert app.likeness is not None
    return app.likeness


def face_of(biometrics: Biometrics, path: Path) -> np.ndarray:
    return biometrics.face_from_image(path.read_bytes()).embedding


def enroll(app: App, subject: str, *images: Path, voice: Path | None = None) -> None:
    """Store templates as a passed enrollment would (the liveness upload is issue 4's)."""
    bio = app.biometrics
    assert bio is not None
    faces = [face_of(bio, p) for p in images]
    voice_embedding = bio.voice_from_audio(voice.read_bytes()).embedding if voice else None
    app.enrollments.start(subject, reenroll=False, actor=ACTOR)
    service(app).store_templates(subject, faces, voice_embedding, actor=ACTOR)


def reason(call: object) -> str:
    with pytest.raises(DomainError) as caught:
        call()  # type: ignore[operator]
    return caught.value.reason


def test_verify_matches_the_person_and_not_another(app: App) -> None:
    enroll(app, "obama", OBAMA)
    enroll(app, "biden", BIDEN)
    same = service(app).verify("obama", MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), actor=ACTOR)
    assert same.verdict == Verdict.MATCH and same.scores[0].modality == "face"
    assert same.scores[0].score > same.scores[0].threshold
    other = service(app).verify("biden", MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), actor=ACTOR)
    assert other.verdict == Verdict.NO_MATCH and other.scores[0].score < other.scores[0].threshold
    blank = media.decode_image(OBAMA.read_bytes()) * 0 + 128
    import cv2

    nothing = service(app).verify("obama", MediaKind.IMAGE, bytes(cv2.imencode(".png", blank)[1].tobytes()),
                                  actor=ACTOR)
    assert nothing.verdict == Verdict.INCONCLUSIVE and nothing.scores == ()
    assert reason(lambda: service(app).verify("nobody", MediaKind.IMAGE, OBAMA.read_bytes(), actor=ACTOR)) == \
        "ERROR_REASON_ENROLLMENT_NOT_FOUND"


def test_search_finds_every_enrolled_face_in_a_photo(app: App) -> None:
    enroll(app, "obama", OBAMA)
    enroll(app, "biden", BIDEN)
    enroll(app, "rose", ROSE)
    found = service(app).search(MediaKind.IMAGE, (FACES / "knn_examples/test/obama_and_biden.jpg").read_bytes(), 3,
                                actor=ACTOR).faces
    threshold = service(app).thresholds.face
    matched = {f.candidates[0].subject_id for f in found if f.candidates[0].score >= threshold}
    assert matched == {"obama", "biden"}
    stranger = service(app).search(MediaKind.IMAGE, (FACES / "knn_examples/train/alex_lacamoire/img1.jpg")
                                   .read_bytes(), 3, actor=ACTOR).faces
    assert len(stranger) == 1 and all(h.score < threshold for h in stranger[0].candidates)


def test_the_search_threshold_rises_with_the_gallery(app: App) -> None:
    """1:N: a stranger is compared with everyone, so each comparison must be stricter the more
    people are enrolled (FMR = FPIR / subjects); verification stays 1:1."""
    from identity.matching import Thresholds
    from identity_service.inference.calibration import FACE

    assert Thresholds(0.2, 0.3).for_search("face", 10**6) == 0.2  # without a search rule: 1:1
    enroll(app, "obama", OBAMA)
    one = service(app).search(MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), 3, actor=ACTOR)
    assert one.face_threshold == max(service(app).thresholds.face, FACE.threshold(1e-3))
    enroll(app, "biden", BIDEN)
    enroll(app, "rose", ROSE)
    three = service(app).search(MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), 3, actor=ACTOR)
    assert three.face_threshold == FACE.threshold(1e-3 / 3) > service(app).thresholds.face
    assert three.faces[0].candidates[0].subject_id == "obama"
    assert three.faces[0].candidates[0].score >= three.face_threshold
    at_a_million = service(app).thresholds.for_search("face", 10**6)
    assert at_a_million == FACE.threshold(1e-9) and at_a_million > 0.4


def utterances(speaker: str) -> list[Path]:
    return sorted((SPEECH / speaker).glob("*.flac"))


def test_search_finds_an_enrolled_voice(app: App) -> None:
    """A generated video's audio is a likeness too: search an audio file, and a video's track."""
    enroll(app, "obama", OBAMA, voice=utterances("1688")[0])
    enroll(app, "biden", BIDEN, voice=utterances("1998")[0])
    threshold = service(app).thresholds.voice
    heard = service(app).search(MediaKind.AUDIO, utterances("1688")[3].read_bytes(), 2, actor=ACTOR)
    assert heard.faces == [] and heard.voice is not None
    assert heard.voice[0].subject_id == "obama" and heard.voice[0].score >= threshold
    assert all(h.score < threshold for h in heard.voice[1:])
    stranger = service(app).search(MediaKind.AUDIO, utterances("2414")[0].read_bytes(), 2, actor=ACTOR)
    assert stranger.voice is not None and all(h.score < threshold for h in stranger.voice)
    # A photo has no voice; a video with a speaking person has both.
    assert service(app).search(MediaKind.IMAGE, OBAMA.read_bytes(), 2, actor=ACTOR).voice is None
    both = service(app).search(MediaKind.VIDEO, (CNN / "sstzal_DFRF_cnn2_25fps_57-71s.mp4").read_bytes(), 2,
                               actor=ACTOR)
    assert len(both.faces) >= 1 and both.voice is not None
    # Erased: gone from the voice index too.
    app.enrollments.delete_subject("obama", actor=ACTOR)
    again = service(app).search(MediaKind.AUDIO, utterances("1688")[3].read_bytes(), 2, actor=ACTOR)
    assert again.voice is not None and [h.subject_id for h in again.voice] == ["biden"]


def test_one_person_one_cameo(app: App) -> None:
    enroll(app, "obama", OBAMA)
    app.enrollments.start("barack2", reenroll=False, actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        service(app).store_templates("barack2", [face_of(app.biometrics, OBAMA_OTHER)], None, actor=ACTOR)  # type: ignore[arg-type]
    assert caught.value.reason == "ERROR_REASON_LIKENESS_TAKEN" and "obama" not in caught.value.message
    with app.store.read() as tx:
        assert tx.list_templates("barack2") == []
        denied = [e for e in tx.list_audit(__import__("auditlog.ports", fromlist=["AuditFilter"])
                                           .AuditFilter(subject_id="barack2"), after_sequence=None, limit=10)
                  if e.reason == "LIKENESS_TAKEN"]
    assert denied and denied[0].details["enrolled_subject"] == "obama"
    # Re-enrolling the same subject with its own face is fine.
    service(app).store_templates("obama", [face_of(app.biometrics, OBAMA_OTHER)], None, actor=ACTOR)  # type: ignore[arg-type]


def test_face_and_voice_from_video_must_both_match(app: App) -> None:
    clip = CNN / "sstzal_DFRF_cnn2_25fps_57-71s.mp4"
    bio = app.biometrics
    assert bio is not None
    _, frames = media.video_frames(clip.read_bytes(), every_seconds=1.0, max_frames=5)
    faces = [bio.one_face(frame).embedding for _, frame in frames]
    voice = bio.voice_from_audio(clip.read_bytes()).embedding
    app.enrollments.start("acosta", reenroll=False, actor=ACTOR)
    service(app).store_templates("acosta", faces, voice, actor=ACTOR)
    probe = (CNN / "sstzal_DFRF_cnn2_25fps_00-30s.mp4").read_bytes()
    result = service(app).verify("acosta", MediaKind.VIDEO, probe, actor=ACTOR)
    assert result.verdict == Verdict.MATCH and {s.modality for s in result.scores} == {"face", "voice"}
    # The same face with another voice dubbed over it does not match.
    dubbed_voice = service(app).verify("acosta", MediaKind.AUDIO,
                                       (SHARED / "data/speech/librispeech/1688/1688-142285-0000.flac").read_bytes(),
                                       actor=ACTOR)
    assert dubbed_voice.verdict == Verdict.NO_MATCH and dubbed_voice.scores[0].modality == "voice"


def test_no_template_bytes_in_the_database(app: App, store: SqlStore, tmp_path: Path) -> None:
    enroll(app, "obama", OBAMA, voice=SHARED / "data/speech/librispeech/1688/1688-142285-0000.flac")
    bio = app.biometrics
    assert bio is not None
    face = face_of(bio, OBAMA).astype("<f4").tobytes()
    voice = bio.voice_from_audio((SHARED / "data/speech/librispeech/1688/1688-142285-0000.flac").read_bytes()) \
        .embedding.astype("<f4").tobytes()
    if store.dialect == "sqlite":
        app.store.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("test.db*"))
    else:
        schema = store.engine.url.query.get("options", "") or _schema_of(store)
        raw = subprocess.run(["pg_dump", "--data-only", "--schema", schema, "-d", POSTGRES_URL.replace(
            "postgresql+psycopg", "postgresql")], capture_output=True, check=True, timeout=120).stdout
    assert len(raw) > 10_000
    for secret in (face, voice):
        # Any 16-byte window of either plaintext embedding: none may appear.
        for start in range(0, len(secret) - 16, 64):
            assert secret[start:start + 16] not in raw
    assert b"obama" in raw  # the dump is real: ids are there


def _schema_of(store: SqlStore) -> str:
    with store.engine.connect() as connection:
        return str(connection.execute(text("SELECT current_schema()")).scalar())


def test_a_ciphertext_moved_to_another_subject_fails(app: App, store: SqlStore) -> None:
    enroll(app, "obama", OBAMA)
    enroll(app, "biden", BIDEN)
    with store.engine.begin() as connection:
        obama = connection.execute(text("SELECT ciphertext, nonce FROM templates WHERE subject_id = 'obama'")).one()
        connection.execute(text("UPDATE templates SET ciphertext = :c, nonce = :n WHERE subject_id = 'biden'"),
                           {"c": obama[0], "n": obama[1]})
    assert reason(lambda: service(app).verify("biden", MediaKind.IMAGE, OBAMA.read_bytes(), actor=ACTOR)) == \
        "ERROR_REASON_TEMPLATES_UNREADABLE"
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE templates SET ciphertext = :c WHERE subject_id = 'obama'"),
                           {"c": bytes([obama[0][0] ^ 1]) + obama[0][1:]})
    assert reason(lambda: service(app).verify("obama", MediaKind.IMAGE, OBAMA.read_bytes(), actor=ACTOR)) == \
        "ERROR_REASON_TEMPLATES_UNREADABLE"


def test_replicas_follow_enrollments_and_erasures(app: App, store: SqlStore, tmp_path: Path,
                                                  biometrics: Biometrics) -> None:
    # Replicas share the key encryption keys (one Secret in Kubernetes); here, one key file.
    shared_keys = {"template_key_file": app.settings.resolved_template_key_file()}
    other = build_app(test_settings(tmp_path / "b", **shared_keys), store=store, migrate_now=False,
                      biometrics=biometrics)
    try:
        assert service(other).build_index() == 0
        enroll(app, "obama", OBAMA)
        query = face_of(biometrics, OBAMA_OTHER)[None]
        assert service(other).index.search(query, 1) == [[]]
        assert service(other).refresh() == 1
        assert service(other).index.search(query, 1)[0][0].subject_id == "obama"
        app.enrollments.delete_subject("obama", actor=ACTOR)  # crypto-shred, on the first replica
        assert service(app).index.search(query, 1) == [[]]  # gone here at once
        service(other).refresh()
        assert service(other).index.search(query, 1) == [[]]  # and there after its next poll
        with store.read() as tx:
            assert tx.get_subject_key("obama") is None and tx.list_templates("obama") == []
        # A fresh replica builds its index from the database: nothing of obama.
        fresh = build_app(test_settings(tmp_path / "c", **shared_keys), store=store, migrate_now=False,
                          biometrics=biometrics)
        assert service(fresh).build_index() == 0
    finally:
        other.likeness.close() if other.likeness else None  # shares the store with `app`


def test_the_approximate_index_decides_as_brute_force_for_every_probe(store: SqlStore, tmp_path: Path,
                                                                     biometrics: Biometrics) -> None:
    """A trained IVF index (16 lists, 2 scanned: most of the index unread) over 700 background
    subjects and the real people, against brute force over the same database: for every face in
    every photo of ../shared/data/faces, the same matched subjects with the same scores. (Below
    the threshold the tail may differ: a stranger's fifth-nearest background vector is not a
    decision, and an approximate index is allowed to miss it.)"""
    keys = {"template_key_file": tmp_path / "keys.json"}
    ivf = build_app(test_settings(tmp_path / "ivf", search_index="ivf", search_ivf_lists=16, search_ivf_nprobe=2,
                                  **keys), store=store, migrate_now=False, biometrics=biometrics)
    exact = build_app(test_settings(tmp_path / "exact", search_index="exact", **keys), store=store,
                      migrate_now=False, biometrics=biometrics)
    try:
        rng = np.random.default_rng(11)
        background = rng.standard_normal((700, 512)).astype(np.float32)
        background /= np.linalg.norm(background, axis=1, keepdims=True)
        for i, vector in enumerate(background):
            service(ivf).store_templates(f"bg{i:03d}", [vector], None, actor=ACTOR)
        for subject, photo in (("obama", OBAMA), ("biden", BIDEN), ("rose", ROSE)):
            enroll(ivf, subject, photo)
        assert service(ivf).build_index() == 703 and service(exact).build_index() == 703
        assert getattr(service(ivf).index, "trained", False) and not service(ivf).index.exact
        probes = sorted(p for p in FACES.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        assert len(probes) >= 15
        threshold = service(ivf).thresholds.face
        matches = 0
        for probe in probes:
            a = service(ivf).search(MediaKind.IMAGE, probe.read_bytes(), 5, actor=ACTOR).faces
            b = service(exact).search(MediaKind.IMAGE, probe.read_bytes(), 5, actor=ACTOR).faces
            assert len(a) == len(b)
            for fa, fb in zip(a, b, strict=True):
                got = [(h.subject_id, h.score) for h in fa.candidates if h.score >= threshold]
                want = [(h.subject_id, h.score) for h in fb.candidates if h.score >= threshold]
                assert [s for s, _ in got] == [s for s, _ in want], probe.name
                assert np.allclose([x for _, x in got], [x for _, x in want], atol=1e-6)
                matches += len(got)
        assert matches >= 10  # the comparison covered real matches, not only strangers
    finally:
        for app in (ivf, exact):
            app.likeness.close() if app.likeness else None


def test_an_index_build_reports_progress_and_memory(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from structlog.testing import capture_logs

    import identity.matching

    enroll(app, "obama", OBAMA, voice=utterances("1688")[0])
    enroll(app, "biden", BIDEN)
    monkeypatch.setattr(identity.matching, "BUILD_PROGRESS_SECONDS", 0.0)  # report after every page
    with capture_logs() as logs:
        assert service(app).build_index() == 2
    progress = [e for e in logs if e["event"] == "search_index_build_progress"]
    assert progress and progress[-1]["templates_read"] == progress[-1]["templates_total"] == 3
    built = next(e for e in logs if e["event"] == "search_index_built")
    assert built["voice_templates"] == 1 and built["bytes_per_template"] > 0
    assert built["index"] == ("ExactIndex" if app.settings.search_index == "exact" else "IvfIndex")
    assert not any("embedding" in str(e) or "template\":" in str(e) for e in logs)


def test_templates_of_an_old_model_are_flagged_and_refused(app: App, store: SqlStore) -> None:
    enroll(app, "obama", OBAMA)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE templates SET model_version = '0' WHERE subject_id = 'obama'"))
    # A template moved to another model version does not even decrypt (the model is bound in);
    # a real old-model template does, and is flagged: here the row says model version 0.
    assert service(app).build_index() == 0
    view = app.enrollments.get("obama")
    assert view.record.status.value == "stale"
    assert reason(lambda: service(app).verify("obama", MediaKind.IMAGE, OBAMA.read_bytes(), actor=ACTOR)) == \
        "ERROR_REASON_ENROLLMENT_NOT_ACTIVE"


# --- over gRPC --------------------------------------------------------------------------------


@pytest.fixture
def grpc_server(tmp_path: Path, biometrics: Biometrics) -> Iterator[RunningServer]:
    app = build_app(test_settings(tmp_path), biometrics=biometrics)
    assert app.likeness is not None
    app.likeness.build_index()
    with serving(app) as srv:
        yield srv


def test_verify_and_search_end_to_end_over_grpc(grpc_server: RunningServer) -> None:
    enroll(grpc_server.app, "obama", OBAMA)
    enroll(grpc_server.app, "biden", BIDEN)
    stub = rpc.IdentityServiceStub(grpc_server.channel)
    jpeg = pb.MEDIA_CONTAINER_JPEG
    verdict = stub.VerifyLikeness(pb.VerifyLikenessRequest(subject_id="obama", probe=pb.Media(
        container=jpeg, content=OBAMA_OTHER.read_bytes())), metadata=grpc_server.metadata("app"), timeout=30)
    assert verdict.decision == pb.DECISION_MATCH and verdict.scores[0].matched
    wrong = stub.VerifyLikeness(pb.VerifyLikenessRequest(subject_id="biden", probe=pb.Media(
        container=jpeg, content=OBAMA_OTHER.read_bytes())), metadata=grpc_server.metadata("app"), timeout=30)
    assert wrong.decision == pb.DECISION_NO_MATCH
    found = stub.SearchLikeness(pb.SearchLikenessRequest(media=pb.Media(
        container=jpeg, content=(FACES / "knn_examples/test/obama_and_biden.jpg").read_bytes()), top_k=2),
        metadata=grpc_server.metadata("generator"), timeout=30)
    best = {f.candidates[0].subject_id for f in found.faces if f.candidates[0].matched}
    assert best == {"obama", "biden"}
    assert all(f.box.width > 20 and f.box.height > 20 for f in found.faces)
    assert not found.HasField("voice")  # a photo has none
    enroll(grpc_server.app, "reader", ROSE, voice=utterances("1688")[0])
    heard = stub.SearchLikeness(pb.SearchLikenessRequest(media=pb.Media(
        container=pb.MEDIA_CONTAINER_FLAC, content=utterances("1688")[2].read_bytes())),
        metadata=grpc_server.metadata("scanner"), timeout=30)
    assert list(heard.faces) == [] and heard.voice.candidates[0].subject_id == "reader"
    assert heard.voice.candidates[0].matched


@pytest.mark.parametrize(("request_kwargs", "expected"), [
    ({"subject_id": "obama"}, ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_MISSING", "probe")),
    ({"subject_id": "obama", "probe": pb.Media(content=b"x")},
     ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_MISSING", "probe.container")),
    ({"subject_id": "obama", "probe": pb.Media(container=pb.MEDIA_CONTAINER_JPEG)},
     ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_MISSING", "probe.content")),
    ({"subject_id": "obama", "probe": pb.Media(container=pb.MEDIA_CONTAINER_JPEG, content=b"\xff\xd8garbage")},
     ("INVALID_ARGUMENT", "ERROR_REASON_MEDIA_CORRUPT", None)),
    ({"subject_id": "no/such", "probe": pb.Media(container=pb.MEDIA_CONTAINER_JPEG, content=b"x")},
     ("INVALID_ARGUMENT", "ERROR_REASON_FIELD_INVALID", "subject_id")),
    ({"subject_id": "nobody", "probe": pb.Media(container=pb.MEDIA_CONTAINER_JPEG, content=b"\xff\xd8\xff")},
     ("NOT_FOUND", "ERROR_REASON_ENROLLMENT_NOT_FOUND", None)),
    # The declared container is checked against the bytes: a JPEG is neither an MP4 nor a WAV.
    ({"subject_id": "obama", "probe": pb.Media(container=pb.MEDIA_CONTAINER_MP4, content=OBAMA.read_bytes())},
     ("INVALID_ARGUMENT", "ERROR_REASON_MEDIA_UNSUPPORTED", None)),
    ({"subject_id": "obama", "probe": pb.Media(container=pb.MEDIA_CONTAINER_WAV, content=OBAMA.read_bytes())},
     ("INVALID_ARGUMENT", "ERROR_REASON_MEDIA_UNSUPPORTED", None)),
], ids=["no-probe", "no-container", "no-content", "corrupt", "bad-id", "not-enrolled", "jpeg-as-mp4", "jpeg-as-wav"])
def test_bad_verify_requests_get_status_and_reason(grpc_server: RunningServer, request_kwargs: dict[str, object],
                                                   expected: tuple[str, str, str | None]) -> None:
    enroll(grpc_server.app, "obama", OBAMA)
    with pytest.raises(grpc.RpcError) as caught:
        rpc.IdentityServiceStub(grpc_server.channel).VerifyLikeness(
            pb.VerifyLikenessRequest(**request_kwargs), metadata=grpc_server.metadata("app"), timeout=30)
    code, why, metadata = error_info(caught.value)
    assert (code.name, why) == expected[:2]
    if expected[2]:
        assert metadata["field"] == expected[2]


def test_bad_search_requests_and_roles(grpc_server: RunningServer) -> None:
    stub = rpc.IdentityServiceStub(grpc_server.channel)
    image = pb.Media(container=pb.MEDIA_CONTAINER_JPEG, content=OBAMA.read_bytes())
    for kwargs, why in (({"media": image, "top_k": 51}, "ERROR_REASON_FIELD_INVALID"),
                        ({"media": pb.Media(container=pb.MEDIA_CONTAINER_WAV, content=b"RIFF\0\0\0\0WAVE")},
                         "ERROR_REASON_MEDIA_CORRUPT"),
                        ({}, "ERROR_REASON_FIELD_MISSING")):
        with pytest.raises(grpc.RpcError) as caught:
            stub.SearchLikeness(pb.SearchLikenessRequest(**kwargs), metadata=grpc_server.metadata("scanner"),
                                timeout=30)
        assert error_info(caught.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, why)
    # A generator may search, but may not verify a named person.
    with pytest.raises(grpc.RpcError) as caught:
        stub.VerifyLikeness(pb.VerifyLikenessRequest(subject_id="obama", probe=image),
                            metadata=grpc_server.metadata("generator"), timeout=30)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    empty = stub.SearchLikeness(pb.SearchLikenessRequest(media=image), metadata=grpc_server.metadata("scanner"),
                                timeout=30)
    assert len(empty.faces) == 1 and list(empty.faces[0].candidates) == []


def test_a_key_rotation_elsewhere_is_taken_up_without_a_restart(app: App) -> None:
    """`keys rotate` runs in another process (the operator's CLI, or on another replica): it
    writes a new active KEK to the key file and rewraps every data key under it. The running
    service used to answer TEMPLATES_UNREADABLE "... must re-enroll" until restarted; now it
    reads the file again when a data key names a KEK it does not hold. A KEK that is nowhere
    is an operator's problem: TEMPLATE_KEY_UNAVAILABLE, and no advice to re-enroll."""
    from identity_service.vault.keys import FileKeyring
    from identity_service.vault.rotation import rewrap_all
    from identity_service.vault.vault import TemplateVault

    enroll(app, "obama", OBAMA)
    serving = app.vault.keys
    assert isinstance(serving, FileKeyring)
    operator = FileKeyring.load_or_create(serving.path).rotated()  # another process's view of the file
    operator.save()
    assert rewrap_all(app.store, TemplateVault(operator)) == 1
    assert operator.active_kid() not in serving.kids()  # this process has not seen it yet
    same = service(app).verify("obama", MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), actor=ACTOR)
    assert same.verdict == Verdict.MATCH and operator.active_kid() in serving.kids()

    # A data key wrapped by a KEK that no file holds: the person is not told to re-enroll.
    lost = FileKeyring(serving.path.with_name("lost.json"), operator.rotated().keys())
    rewrap_all(app.store, TemplateVault(lost))
    with pytest.raises(DomainError) as caught:
        service(app).verify("obama", MediaKind.IMAGE, OBAMA_OTHER.read_bytes(), actor=ACTOR)
    assert caught.value.reason == "ERROR_REASON_TEMPLATE_KEY_UNAVAILABLE"
    assert "re-enroll" not in caught.value.message and caught.value.metadata["kek_id"] == lost.active_kid()
