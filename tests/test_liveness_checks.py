"""The liveness checks as pure functions over observations, and the spoken-digit parser."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liveness.articulation import (
    HOP_SECONDS,
    ArticulationModel,
    LipSyncModel,
    PhoneticModel,
    PhoneticProjection,
    band_energies,
    fit_weights,
    fused_z,
    shipped_lip_sync,
    shipped_model,
)
from liveness.challenge import HeadTurn, challenge_count, new_challenge
from liveness.checks import (
    AudioObservation,
    CheckKind,
    CheckResult,
    FrameObservation,
    LivenessPolicy,
    MouthTrack,
    Observations,
    evaluate,
    head_turns,
    lip_sync,
    one_identity,
    passed,
    presentation_attack,
    single_face,
    spoken_digits_check,
)
from liveness.digits import digit_accuracy, digit_errors, replay_pass_probability, spoken_digits

POLICY = LivenessPolicy()


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


def frames(n: int, **kw: object) -> tuple[FrameObservation, ...]:
    return tuple(FrameObservation(time=i / 8, faces=1, quality_ok=True, **kw) for i in range(n))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "digits"), [
    ("4 0 7 1 9", "40719"), ("four oh seven one", "4071"), ("Four, zero, seven, one, nine.", "40719"),
    ("double seven three", "773"), ("okay um 5 and 6", "56"), ("4071", "4071"), ("", ""),
    ("for to ate", "428"),
])
def test_spoken_digits_are_normalised(text: str, digits: str) -> None:
    assert spoken_digits(text) == digits


def test_digit_accuracy_is_an_edit_distance() -> None:
    assert digit_accuracy("4071", "4071") == 1.0
    assert digit_accuracy("4071", "4017") == 0.5
    assert digit_accuracy("4071", "") == 0.0
    assert digit_accuracy("4071", "40711") == 0.75
    assert digit_errors("507139", "50739") == 1 and digit_errors("507139", "705139") == 2


def test_a_replayed_recording_passes_a_fresh_challenge_rarely() -> None:
    """The bound on a replay passing, checked by brute force: every six-digit challenge the
    generator can draw, against heard strings of each length around it."""
    import itertools

    challenges = ["".join(map(str, c)) for c in itertools.product(range(10), repeat=6)
                  if all(a != b for a, b in itertools.pairwise(c))]
    assert len(challenges) == challenge_count(6) == 590_490
    bound = replay_pass_probability(6, 1, challenge_count(6))
    assert bound < 1.1e-4
    table = np.array([[int(d) for d in c] for c in challenges])
    rng = np.random.default_rng(0)
    for heard in ["50713", "507139", "5071392", "".join(map(str, rng.integers(0, 10, 5)))]:
        digits = np.array([int(d) for d in heard])
        if len(heard) == 6:  # one substitution at most
            near = (table != digits).sum(axis=1) <= 1
        elif len(heard) == 5:  # the challenge with one digit dropped
            near = np.any([np.all(np.delete(table, i, axis=1) == digits, axis=1) for i in range(6)], axis=0)
        else:  # one digit added to the challenge
            dropped = {heard[:i] + heard[i + 1:] for i in range(len(heard))}
            near = np.array([c in dropped for c in challenges])
        # The shortcut agrees with the edit distance the check uses, on a sample and on every match.
        sample = list(rng.integers(0, len(challenges), 3000)) + list(np.flatnonzero(near))
        assert all(bool(near[i]) is (digit_errors(challenges[i], heard) <= 1) for i in sample), heard
        assert near.sum() / len(challenges) <= bound, heard


def test_head_turns_in_order_pass_and_out_of_order_fail() -> None:
    poses = [(0, 0)] * 4 + [(25, 0)] * 3 + [(0, 0)] * 3 + [(-25, 0)] * 3 + [(0, 0)] * 3 + [(0, 18)] * 3 + [(0, 0)] * 4
    obs = Observations(tuple(FrameObservation(time=i / 8, faces=1, yaw=y, pitch=p) for i, (y, p) in enumerate(poses)),
                       None)
    ok = head_turns(obs, POLICY, (HeadTurn.LEFT, HeadTurn.RIGHT, HeadTurn.UP))
    assert ok.passed and ok.score == 3
    wrong = head_turns(obs, POLICY, (HeadTurn.UP, HeadTurn.LEFT))
    assert not wrong.passed and wrong.reason == "TURNS_OUT_OF_ORDER"
    still = Observations(frames(20), None)
    assert head_turns(still, POLICY, (HeadTurn.LEFT,)).reason == "TURNS_MISSING"


def test_face_count_and_identity() -> None:
    same = Observations(tuple(FrameObservation(time=i, faces=1, quality_ok=True, embedding=unit(1)) for i in range(10)),
                        None)
    assert single_face(same, POLICY).passed and one_identity(same, POLICY).passed
    spliced = Observations(tuple(FrameObservation(time=i, faces=1, quality_ok=True, embedding=unit(1 if i < 5 else 2))
                                 for i in range(10)), None)
    assert one_identity(spliced, POLICY).reason == "IDENTITY_CHANGES"
    crowd = Observations(tuple(FrameObservation(time=i, faces=2 if i % 2 else 1, quality_ok=True) for i in range(10)),
                         None)
    assert single_face(crowd, POLICY).reason == "MULTIPLE_FACES"
    empty = Observations(tuple(FrameObservation(time=i, faces=0) for i in range(10)), None)
    assert single_face(empty, POLICY).reason == "FACE_MISSING"


def talking_mouth(seconds: float = 8.0, seed: int = 3) -> MouthTrack:
    """A mouth opening and closing at a syllable-like rate, sampled 12.5 times a second."""
    rng = np.random.default_rng(seed)
    times = np.arange(int(seconds * 12.5)) / 12.5
    syllables = np.convolve(rng.normal(0, 1, len(times)), np.ones(3) / 3, mode="same")
    return MouthTrack(times, np.clip(syllables * 0.08 + 0.05, 0, None))


# A test double of the shipped articulation model: the opening is read off the second band at
# the same instant, and a dub's Fisher-z score has mean 0 and sd 1 / sqrt(T) (as chance
# correlations have when samples are independent). The shipped model is tested on real recordings.
BANDS = (100.0, 800.0, 3000.0, 7000.0)
ONE_BAND_MODEL = ArticulationModel(BANDS, (-5, 0, 5), np.array([0, 0, 0, 0, 1, 0, 0, 0, 0], np.float64),
                                   (0.0, 0.0), (0.0, 1.0))


def voice_following(track: MouthTrack, shift: float = 0.0, openings: np.ndarray | None = None) -> AudioObservation:
    """Band energies whose second band rises and falls with ``openings`` (the track's own by
    default), ``shift`` seconds later; the other bands are noise."""
    hops = np.arange(int((track.times[-1] + 1) / HOP_SECONDS)) * HOP_SECONDS
    source = track.openings if openings is None else openings
    noise = np.random.default_rng(11).normal(0, 1, (len(hops), 3))
    noise[:, 1] = np.log(np.interp(hops, track.times + shift, source) + 0.01)
    return AudioObservation(seconds=float(hops[-1]), speech_seconds=float(hops[-1]),
                            vad=np.ones(len(hops) // 3, np.float32), articulation=noise.astype(np.float32))


def test_lip_sync_scores_synchronous_lips_high_and_dubbed_or_still_ones_low() -> None:
    mouth = talking_mouth()
    model = ONE_BAND_MODEL

    def check(audio: AudioObservation, track: MouthTrack | None, policy: LivenessPolicy = POLICY) -> CheckResult:
        return lip_sync(Observations((), audio, track), policy, model)

    synced = check(voice_following(mouth), mouth)
    # r near 1 over 8 s: many standard deviations above any dub.
    assert synced.passed and synced.score > 4, synced
    # Sound trailing the picture by a tenth of a second is within the lag searched.
    assert check(voice_following(mouth, shift=0.1), mouth).passed
    # The same voice half a second off, or another utterance's rhythm, does not line up.
    late = check(voice_following(mouth, shift=0.5), mouth)
    assert not late.passed and late.reason == "LIPS_OUT_OF_SYNC", late
    dubbed = check(voice_following(mouth, openings=talking_mouth(seed=4).openings), mouth)
    assert not dubbed.passed and dubbed.reason == "LIPS_OUT_OF_SYNC", dubbed
    rng = np.random.default_rng(5)
    photo = MouthTrack(mouth.times, 0.05 + rng.normal(0, 0.001, len(mouth.times)))
    assert check(voice_following(mouth), photo).reason == "LIPS_STILL"
    assert check(voice_following(mouth), None).reason == "TOO_LITTLE_SIGNAL"
    # A deployment may ask for more evidence than an 8 s recording holds.
    short = check(voice_following(mouth), mouth, LivenessPolicy(min_lip_sync_seconds=10.0))
    assert not short.passed and short.reason == "TOO_SHORT_FOR_LIP_SYNC" and short.score > 4, short
    assert check(voice_following(mouth), mouth, LivenessPolicy(min_lip_sync_seconds=7.5)).passed


def test_a_longer_recording_is_held_to_a_stricter_false_accept_target() -> None:
    """1 dub in 100 (2.33) up to 5 s, 1 in 1,000 (3.09) from 8 s, linear between; what that asks
    of a person, the score over the square root of the seconds, never exceeds what 4 s asks."""
    assert POLICY.lip_sync_threshold(0.0) == POLICY.lip_sync_threshold(5.0) == 2.33
    assert POLICY.lip_sync_threshold(8.0) == POLICY.lip_sync_threshold(30.0) == 3.09
    assert POLICY.lip_sync_threshold(6.5) == pytest.approx((2.33 + 3.09) / 2)
    lengths = np.linspace(4.0, 30.0, 200)
    strength = np.array([POLICY.lip_sync_threshold(t) for t in lengths]) / np.sqrt(lengths)
    assert strength.max() == pytest.approx(2.33 / 2.0)
    # The lip-sync check reports the threshold of the track it scored: the same lips and voice
    # cut to 4 s are held to 2.33, the whole 8 s to about 3.09.
    mouth = talking_mouth()
    whole = lip_sync(Observations((), voice_following(mouth), mouth), POLICY, ONE_BAND_MODEL)
    keep = mouth.times <= 4.0
    short_mouth = MouthTrack(mouth.times[keep], mouth.openings[keep])
    short = lip_sync(Observations((), voice_following(short_mouth), short_mouth), POLICY, ONE_BAND_MODEL)
    assert short.threshold == 2.33 and whole.threshold == pytest.approx(3.09, abs=0.03)
    assert whole.threshold == POLICY.lip_sync_threshold(float(mouth.times[-1] - mouth.times[0]))
    # The same score passes where the threshold has not yet risen and fails where it has.
    low, high = whole.score - 1, whole.score + 1
    late = LivenessPolicy(min_lip_sync=low, min_lip_sync_long=high, lip_sync_tightens_seconds=(10.0, 12.0))
    early = LivenessPolicy(min_lip_sync=low, min_lip_sync_long=high, lip_sync_tightens_seconds=(4.0, 7.0))
    assert lip_sync(Observations((), voice_following(mouth), mouth), late, ONE_BAND_MODEL).passed
    failed = lip_sync(Observations((), voice_following(mouth), mouth), early, ONE_BAND_MODEL)
    assert not failed.passed and failed.reason == "LIPS_OUT_OF_SYNC" and failed.threshold == whole.score + 1


def test_the_better_of_two_views_is_taken_back_to_one_views_odds() -> None:
    """Dubs' two scores as correlated standard normals: the better of the two would pass about
    twice as often as one; the fused score passes them about as often as one view did (1% at
    2.33), whatever their correlation."""
    rng = np.random.default_rng(8)
    for rho in (0.0, 0.45, 0.9):
        first = rng.normal(size=40_000)
        second = rho * first + np.sqrt(1 - rho**2) * rng.normal(size=40_000)
        better = np.maximum(first, second)
        near = np.abs(better - POLICY.min_lip_sync) < 0.8  # the integral is slow: score the tail's region
        fused = np.array([fused_z(a, b, rho) for a, b in zip(first[near], second[near], strict=True)])
        accepted = float(np.sum(fused >= POLICY.min_lip_sync) + np.sum(better >= POLICY.min_lip_sync + 0.8))
        assert 0.007 < accepted / 40_000 < 0.013, (rho, accepted)
        assert np.mean(better >= POLICY.min_lip_sync) > 0.011 + 0.008 * (rho < 0.3)
    # Taking the better of two costs a little: a score alone counts for less than itself.
    assert fused_z(3.0, -5.0, 0.45) < 3.0 < fused_z(3.0, -5.0, 0.45) + 0.3
    assert fused_z(3.0, 1.0, 0.45) == fused_z(1.0, 3.0, 0.45) < fused_z(3.1, 1.0, 0.45)


def test_lip_sync_takes_the_phonetic_view_when_the_bands_miss() -> None:
    """A test double of both views: the bands carry nothing of the mouth (noise), the phonetic
    view carries it. With the phonetic view the recording passes; without one (no recogniser),
    or with a phonetic view of another utterance, it does not."""
    mouth = talking_mouth()
    heard = voice_following(mouth)
    silent_bands = voice_following(mouth, openings=talking_mouth(seed=6).openings)
    projection = PhoneticProjection(np.zeros(3), np.ones(3), np.eye(3))
    views = LipSyncModel(ONE_BAND_MODEL, PhoneticModel(projection, ONE_BAND_MODEL, 0.45))
    both = replace(silent_bands, phonetic=heard.articulation)
    assert lip_sync(Observations((), both, mouth), POLICY, views).passed
    assert not lip_sync(Observations((), silent_bands, mouth), POLICY, views).passed
    other = replace(silent_bands, phonetic=voice_following(mouth, openings=talking_mouth(seed=7).openings).articulation)
    assert not lip_sync(Observations((), other, mouth), POLICY, views).passed
    # A bare articulation model scores the bands alone, whatever the observation holds.
    assert not lip_sync(Observations((), both, mouth), POLICY, ONE_BAND_MODEL).passed


def test_the_phonetic_projection_holds_each_encoder_state_for_two_hops() -> None:
    rng = np.random.default_rng(4)
    states = [rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) for _ in range(3)]
    projection = PhoneticProjection.fit(states, 4)
    assert projection.components.shape == (4, 6)
    assert np.allclose(projection.components @ projection.components.T, np.eye(4), atol=1e-9)
    projected = projection.project(states[0][:10], 25)
    assert projected.shape == (25, 4)
    assert np.array_equal(projected[0], projected[1]) and not np.array_equal(projected[1], projected[2])
    assert np.array_equal(projected[19], projected[24])  # the last state held to the bands' end
    assert projection.project(states[0][:0], 5).shape == (5, 4)
    again = PhoneticModel.from_json(PhoneticModel(projection, ONE_BAND_MODEL, 0.4).to_json())
    assert np.allclose(again.projection.project(states[1], 30), projection.project(states[1], 30), atol=1e-4)
    shipped = shipped_lip_sync().phonetic
    assert shipped is not None and shipped.projection.components.shape == (16, 384)
    assert 0.0 < shipped.null_correlation < 1.0


def test_the_same_correlation_is_stronger_evidence_over_a_longer_recording() -> None:
    model = shipped_model()
    assert model.null_z(0.4, 8.0) > model.null_z(0.4, 3.0) > model.null_z(0.2, 3.0)
    # The threshold sits in the dubs' upper tail at every length, not at a fixed correlation.
    assert model.null_z(0.0, 5.0) < 0 < POLICY.min_lip_sync


def test_fitting_recovers_a_linear_map_from_bands_to_the_mouth() -> None:
    rng = np.random.default_rng(2)
    pairs = []
    for _ in range(4):
        energies = rng.normal(0, 1, (800, 3))
        hops = np.arange(5, 795, 8)
        openings = energies[hops + 5, 0] - 0.5 * energies[hops, 2] + rng.normal(0, 0.1, len(hops))
        pairs.append((hops, openings, energies))
    weights = fit_weights(pairs, (-5, 0, 5), ridge=0.001).reshape(3, 3)
    assert weights[2, 0] > 0.5 and weights[1, 2] < -0.2
    assert abs(weights[0]).max() < 0.1 and abs(weights[1, 0]) < 0.1


def test_band_energies_follow_each_band() -> None:
    rate = 16_000
    t = np.arange(3 * rate) / rate
    burst = (t >= 1.0) & (t < 1.5)
    formant = np.where(burst, 0.3 * np.sin(2 * np.pi * 1500 * t), 0.0).astype(np.float32)
    energies = band_energies(formant, rate, BANDS)
    assert energies.shape == (300, 3)
    inside, outside = energies[110:140].mean(axis=0), energies[:90].mean(axis=0)
    assert inside[1] - outside[1] > 20  # natural log: e^20 more energy in the band while the burst lasts
    assert inside[1] > inside[0] + 10 and inside[1] > inside[2] + 10


def test_presentation_attack_uses_the_median_live_score() -> None:
    live = Observations(frames(8, live=0.95), None)
    spoof = Observations(tuple(FrameObservation(time=i, faces=1, quality_ok=True, live=0.02 if i % 4 else 0.9)
                               for i in range(8)), None)
    assert presentation_attack(live, POLICY).passed
    assert presentation_attack(spoof, POLICY).reason == "PRESENTATION_ATTACK_SUSPECTED"
    # A face too small or blurred to judge is not called a spoof.
    tiny = Observations(tuple(FrameObservation(time=i, faces=1, size_px=40, live=0.02) for i in range(8)), None)
    result = presentation_attack(tiny, POLICY)
    assert not result.passed and result.reason == "FACE_QUALITY_LOW", result
    # Only the good faces count: a blurred frame's low score does not pull the median down.
    mixed = Observations(frames(5, live=0.9) + tuple(FrameObservation(time=i, faces=1, live=0.01) for i in range(6)),
                         None)
    assert presentation_attack(mixed, POLICY).passed


def test_digits_check_and_policy_of_required_checks() -> None:
    audio = AudioObservation(3, 2, np.ones(10), np.ones(10), transcript="four oh seven one")
    assert spoken_digits_check(Observations((), audio), POLICY, "4071").passed
    assert spoken_digits_check(Observations((), audio), POLICY, "4072").reason == "DIGITS_MISMATCH"
    # Six digits tolerate one misheard, dropped or added digit; shorter challenges none; two never.
    six = AudioObservation(3, 2, np.ones(10), np.ones(10), transcript="5 0 7 1 3 9")
    for asked, ok in [("507139", True), ("507138", True), ("5071369", True), ("907138", False),
                      ("501739", False), ("50713", False), ("50719", False)]:
        result = spoken_digits_check(Observations((), six), POLICY, asked)
        assert result.passed is ok, (asked, result)
    assert spoken_digits_check(Observations((), six), POLICY, "507138").score == pytest.approx(5 / 6)
    strict = LivenessPolicy(max_digit_errors=0)
    assert not spoken_digits_check(Observations((), six), strict, "507138").passed
    lenient = LivenessPolicy(required=frozenset(CheckKind) - {CheckKind.SPOKEN_DIGITS})
    results = evaluate(Observations(frames(20, embedding=unit(1), live=0.99), audio), lenient, digits="9999",
                       turns=(), session=None)
    digits = next(r for r in results if r.kind == CheckKind.SPOKEN_DIGITS)
    assert not digits.passed and not digits.required
    assert not passed(results)  # one voice and lip sync have nothing to go on here


def test_challenges_are_random_and_well_formed() -> None:
    seen = {new_challenge().digits for _ in range(50)}
    assert len(seen) > 45
    for _ in range(50):
        challenge = new_challenge()
        assert len(challenge.digits) == 6 and challenge.digits.isdigit()
        assert all(a != b for a, b in zip(challenge.digits, challenge.digits[1:], strict=False))
        assert all(a != b for a, b in zip(challenge.head_turns, challenge.head_turns[1:], strict=False))


def test_the_spoken_digits_of_real_recordings_are_heard(recording_analyzer: object) -> None:
    """Real spoken digits (Free Spoken Digit Dataset, one speaker) joined into a sequence: the
    recogniser hears it, and the check tells the right sequence from a wrong one."""
    from identity_service.inference import media
    from tests.conftest import SHARED

    parts = []
    for i, digit in enumerate("40719"):
        take = sorted((SHARED / "data/digits/george").glob(f"{digit}_george_*.wav"))[i]
        parts += [media.decode_audio(take.read_bytes()).samples, np.zeros(3200, np.float32)]
    transcript = recording_analyzer.recognizer.transcribe(np.concatenate(parts))  # type: ignore[attr-defined]
    audio = AudioObservation(3, 2, np.ones(10), np.ones(10), transcript=transcript)
    assert spoken_digits_check(Observations((), audio), POLICY, "40719").passed, transcript
    assert not spoken_digits_check(Observations((), audio), POLICY, "40718").passed


def test_with_the_recognisers_support_two_misheard_digits_pass_and_a_near_replay_fails() -> None:
    def check(transcript: str, asked: str, support: float | None) -> tuple[bool, float]:
        audio = AudioObservation(6, 5, np.ones(10), np.ones(10), transcript=transcript, digit_support=support)
        result = spoken_digits_check(Observations((), audio), POLICY, asked)
        return result.passed, result.threshold

    assert check("5 0 7 1 3 9", "507139", 0.0) == (True, POLICY.min_digit_support)
    assert check("5 0 1 3 9", "507139", -0.9)[0]  # a dropped and a misheard digit, well supported
    assert check("5 0 7 1 3 9", "507138", -9.7)[0] is False  # one digit away, not supported
    assert check("5 0 7 1 3 9", "507138", None)[0]  # without the support: the one-error rule
    assert check("5 0 7", "507139", 0.0)[0] is False  # three errors: beyond reach whatever the support
    assert check("5 0 7 1", "50719", 0.0)[0] is False  # none tolerated below six digits


def test_the_challenges_within_reach_are_counted_exactly() -> None:
    """The enumeration behind the replay bound, against brute force over every four-digit
    challenge (7,290)."""
    import itertools

    from liveness.digits import challenges_within

    challenges = ["".join(map(str, c)) for c in itertools.product(range(10), repeat=4)
                  if all(a != b for a, b in itertools.pairwise(c))]
    for heard in ("5071", "507", "50719", "1111", ""):
        for errors in (1, 2):
            expected = sum(digit_errors(c, heard) <= errors for c in challenges)
            assert challenges_within(heard, 4, errors) == expected, (heard, errors)


def test_the_recogniser_supports_what_was_said_and_not_a_digit_away(recording_analyzer: object) -> None:
    """Forced through Whisper, the digits a real speaker said score about as well as the free
    transcript; the same string with one digit changed scores far lower."""
    from identity_service.inference import media
    from liveness.digits import spoken_digits
    from tests.conftest import SHARED

    parts = []
    for i, digit in enumerate("407193"):
        take = sorted((SHARED / "data/digits/jackson").glob(f"{digit}_jackson_*.wav"))[i]
        parts += [media.decode_audio(take.read_bytes()).samples, np.zeros(4000, np.float32)]
    samples = np.concatenate(parts)
    recognizer = recording_analyzer.recognizer  # type: ignore[attr-defined]
    heard = spoken_digits(recognizer.transcribe(samples))
    assert recognizer.support(samples, "407193", heard) >= POLICY.min_digit_support, heard
    assert recognizer.support(samples, "407153", heard) < POLICY.min_digit_support
    assert recognizer.support(samples, "", heard) < -100
    # One encoder pass serves the support and lip sync's phonetic view: a state every 20 ms.
    encoded = recognizer.encode(samples)
    assert recognizer.support(samples, "407193", heard, encoded=encoded) == recognizer.support(samples, "407193", heard)
    states = recognizer.encoder_states(encoded)
    assert states.dtype == np.float32 and states.shape[1] == 384
    assert abs(len(states) - len(samples) / media.SAMPLE_RATE / 0.02) <= 1
    # A transcript looping on one digit, longer than Whisper's decoder holds, is scored, not raised.
    looping = recognizer.support(samples, "407193", "1" * 400)
    assert np.isfinite(looping)
    audio = AudioObservation(6, 5, np.ones(10), np.ones(10), transcript="1" * 400, digit_support=looping)
    assert spoken_digits_check(Observations((), audio), POLICY, "407193").passed is False


def test_head_turns_are_read_from_a_real_recording(recording_analyzer: object) -> None:
    """Pose from real landmarks, on ../shared/data/video/d3.mp4. Labelled by looking at its
    frames: at 0.8 s she faces the image's left (her RIGHT), at 9 s the image's right (her
    LEFT), at 10.5 s she looks UP. Asked in that order the check passes; in another order, or
    from a recording that stays frontal (d10.mp4), it fails. The audio is a LibriSpeech
    utterance given as a separate track (these videos carry none of their own speech)."""
    from tests.conftest import SHARED

    voice = sorted((SHARED / "data/speech/librispeech").rglob("*.flac"))[0].read_bytes()

    def observed(name: str) -> Observations:
        video = (SHARED / "data/video" / name).read_bytes()
        return recording_analyzer.analyze(video, voice, transcribe=False).observations  # type: ignore[attr-defined]

    turning = observed("d3.mp4")
    asked = (HeadTurn.RIGHT, HeadTurn.LEFT, HeadTurn.UP)
    result = head_turns(turning, POLICY, asked)
    assert result.passed and result.score == 3, result
    for wrong_order in [(HeadTurn.LEFT, HeadTurn.RIGHT), (HeadTurn.UP, HeadTurn.LEFT, HeadTurn.RIGHT)]:
        refused = head_turns(turning, POLICY, wrong_order)
        assert not refused.passed and refused.reason in ("TURNS_OUT_OF_ORDER", "TURNS_MISSING"), refused
    frontal = head_turns(observed("d10.mp4"), POLICY, (HeadTurn.LEFT,))
    assert not frontal.passed and frontal.reason == "TURNS_MISSING", frontal


def test_lip_sync_on_a_real_recording_and_the_same_face_dubbed(recording_analyzer: object) -> None:
    """A 20 s clip of a person speaking in their own voice (../shared/data/talking) passes with
    the shipped lip-sync model (both views: the bands and the recogniser's encoder); the same face
    with the voice of any LibriSpeech reader of 10 s or more, in both views, fails. The mouth is
    measured at least 12 times a second (a 25 fps video gives 12.5): fewer alias the syllable
    rhythm away. (Short clips are weaker evidence: scripts/eval_lip_sync.py measures that.)"""
    from identity_service.inference import media
    from scripts.eval_lip_sync import cut
    from tests.conftest import SHARED

    video = (SHARED / "data/talking/yerfor_MimicTalk_German_20s.mp4").read_bytes()
    own = recording_analyzer.analyze(video, transcribe=False).observations  # type: ignore[attr-defined]
    assert own.mouth is not None and own.audio is not None
    assert len(own.mouth.times) >= 12 * own.mouth.times[-1]
    # The analyser hears the recording through the recogniser's encoder too, hop for hop.
    assert own.audio.phonetic is not None and len(own.audio.phonetic) == len(own.audio.articulation)
    recognizer = recording_analyzer.recognizer  # type: ignore[attr-defined]
    phonetic_view = shipped_lip_sync().phonetic
    assert phonetic_view is not None
    genuine = lip_sync(own, POLICY)
    assert genuine.passed, genuine
    dubbed = []
    for reader in sorted((SHARED / "data/speech/librispeech").rglob("*.flac")):
        voice = media.decode_audio(reader.read_bytes()).samples
        if len(voice) < 10 * media.SAMPLE_RATE:
            continue
        seconds = len(voice) / media.SAMPLE_RATE
        energies = band_energies(voice, media.SAMPLE_RATE, shipped_model().band_edges_hz)
        phonetic = phonetic_view.projection.project(recognizer.encoder_states(recognizer.encode(voice)), len(energies))
        dubbed.append(lip_sync(cut(own, seconds, energies, phonetic), POLICY))
    assert len(dubbed) >= 5
    assert not any(r.passed for r in dubbed), dubbed
    assert max(r.score for r in dubbed) < genuine.score - 2


def test_the_liveness_policy_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from identity_service.settings import Settings
    from identity_service.wiring import liveness_policy

    monkeypatch.setenv("LIKENESS_LIVENESS_MIN_LIP_SYNC_SECONDS", "8")
    monkeypatch.setenv("LIKENESS_LIVENESS_OPTIONAL_CHECKS", '["head_turns"]')
    policy = liveness_policy(Settings())
    assert policy.min_lip_sync_seconds == 8.0
    assert CheckKind.HEAD_TURNS not in policy.required and CheckKind.LIP_SYNC in policy.required
    monkeypatch.setenv("LIKENESS_LIVENESS_OPTIONAL_CHECKS", '["blinking"]')
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown check 'blinking'; known: single_face"):
        Settings()
