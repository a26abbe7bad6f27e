"""Builds the liveness dev set from ../shared/data: bona fide recordings and attacks.

    .venv/bin/python scripts/build_liveness_devset.py [--out var/liveness-devset]

Writes the media (never committed: it is made from ../shared/data, whose rights are mixed) and
``manifest.csv`` with rows ``path,label,attack_type,digits,turns,source`` for
scripts/eval_liveness.py. ``source`` is where the real face comes from (the repository that
talking/MANIFEST.csv and talking2/MANIFEST.csv name), so the evaluation can leave a source out.

- bona_fide: every clip in talking/ and talking2/ (real people speaking in their own voice,
  genuine lip sync; 7 sources).
- photo_video: a still photo encoded as a 4 s video, with real speech as its audio.
- pad_photo: the presentation-attack photos in pad/ (a photo of a photo or a screen), same way.
- spliced: the first half of one person's clip joined to the second half of another's.
- dubbed: a real talking face with another person's voice laid over it.
- wrong_digits: a real face video with real spoken digits muxed as its audio, asked for other
  digits (nothing in ../shared/data says a challenge on camera; this is built, and says so):
  one digit changed or two swapped in 4-5 digit challenges (which must be heard exactly), and a
  six-digit recording asked for another six-digit challenge (a replay of another session).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from scripts._media import encode_mp4
from scripts.eval_lip_sync import clip_sources

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
FPS = 25


def frames_of(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or FPS)
        return [f.to_ndarray(format="bgr24") for f in container.decode(stream)], fps


def audio_of(path: Path) -> np.ndarray:
    return media.decode_audio(path.read_bytes()).samples


def encode(out: Path, frames: list[np.ndarray], audio: np.ndarray, fps: float = FPS) -> None:
    out.write_bytes(encode_mp4(frames, audio, fps))


def fit(audio: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * 16_000)
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), np.float32)])


def still(image_path: Path, seconds: float, speech: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    image = media.decode_image(image_path.read_bytes())
    scale = min(1.0, 640 / max(image.shape[:2]))
    image = cv2.resize(image, None, fx=scale, fy=scale)
    return [image] * int(seconds * FPS), fit(speech, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("var/liveness-devset"))
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, ...]] = []
    talking = sorted(p for p in (SHARED / "talking").iterdir() if p.suffix in (".mp4", ".mpg"))
    source = clip_sources()

    def of(clip: Path) -> str:
        return source[f"{clip.parent.name}/{clip.name}"]

    for clip in talking + sorted(p for p in (SHARED / "talking2").iterdir() if p.suffix in (".mp4", ".mpg")):
        rows.append((str(clip.resolve()), "bona_fide", "none", "", "", of(clip)))
    speech = [audio_of(p) for p in sorted((SHARED / "speech/librispeech").glob("*/*.flac"))[::10]]

    stills = [SHARED / "faces/knn_examples/train/obama/obama.jpg", SHARED / "faces/knn_examples/train/biden/biden2.jpg",
              SHARED / "faces/knn_examples/train/rose_leslie/img2.jpg", SHARED / "pad/image_T1.jpg"]
    for i, photo in enumerate(stills):
        frames, audio = still(photo, 4.0, speech[i % len(speech)])
        encode(out / f"photo_video_{i}.mp4", frames, audio)
        # Asked to turn, as the service would ask: a still photo cannot (check 3 fails it too).
        rows.append((str((out / f"photo_video_{i}.mp4").resolve()), "attack", "photo_video", "", "left right",
                     "photo"))
    for i, photo in enumerate(sorted((SHARED / "pad").glob("image_F*.jpg"))):
        frames, audio = still(photo, 4.0, speech[(i + 2) % len(speech)])
        encode(out / f"pad_photo_{i}.mp4", frames, audio)
        rows.append((str((out / f"pad_photo_{i}.mp4").resolve()), "attack", "pad_photo", "", "", "photo"))

    # Spliced: halves of two different people (the talking clips' manifest names each person).
    people = [("OpenTalker_video-retalking_1.mp4", "jixinya_EAMM_M030_sad_3_001.mp4"),
              ("sstzal_DFRF_cnn2_25fps_57-71s.mp4", "yerfor_MimicTalk_German_20s.mp4"),
              ("rizkiarm_LipNet_bbaf2n.mpg", "rizkiarm_LipNet_brbk7n.mpg"),
              ("rizkiarm_LipNet_lbax4n.mpg", "rizkiarm_LipNet_lbbc2a.mpg"),
              ("yerfor_MimicTalk_German_20s.mp4", "OpenTalker_video-retalking_1.mp4")]
    for i, (first, second) in enumerate(people):
        a_frames, a_fps = frames_of(SHARED / "talking" / first)
        b_frames, _ = frames_of(SHARED / "talking" / second)
        a_audio, b_audio = audio_of(SHARED / "talking" / first), audio_of(SHARED / "talking" / second)
        half_seconds = min(len(a_frames), len(b_frames), int(5 * a_fps)) / a_fps / 2 + 1.0
        n = int(half_seconds * a_fps)
        size = (a_frames[0].shape[1], a_frames[0].shape[0])
        frames = a_frames[:n] + [cv2.resize(f, size) for f in b_frames[:n]]
        audio = np.concatenate([fit(a_audio, half_seconds), fit(b_audio, half_seconds)])
        encode(out / f"spliced_{i}.mp4", frames, audio, a_fps)
        rows.append((str((out / f"spliced_{i}.mp4").resolve()), "attack", "spliced", "", "",
                     of(SHARED / "talking" / first)))

    # Dubbed: each talking face with a LibriSpeech reader's voice, and some with another clip's voice.
    dubs = [(clip, speech[i % len(speech)]) for i, clip in enumerate(talking[::2])]
    dubs += [(talking[0], audio_of(talking[12])), (talking[14], audio_of(talking[1]))]
    for i, (clip, voice) in enumerate(dubs):
        frames, fps = frames_of(clip)
        frames = frames[: int(10 * fps)]
        encode(out / f"dubbed_{i}.mp4", frames, fit(voice, len(frames) / fps), fps)
        rows.append((str((out / f"dubbed_{i}.mp4").resolve()), "attack", "dubbed", "", "", of(clip)))

    # Wrong digits: a real face video with real spoken digits (8 kHz, upsampled) as its audio.
    digits_dir = SHARED / "digits" / "jackson"
    for i, (video, said, asked) in enumerate([("d6.mp4", "40719", "40718"), ("d10.mp4", "2593", "8812"),
                                              ("d9.mp4", "61854", "61845"), ("d3.mp4", "290574", "816392")]):
        parts = []
        for j, digit in enumerate(said):
            take = sorted(digits_dir.glob(f"{digit}_jackson_*.wav"))[j]
            parts += [audio_of(take), np.zeros(4000, np.float32)]
        frames, fps = frames_of(SHARED / "video" / video)
        audio = np.concatenate(parts)
        frames = frames[: int(max(4.0, len(audio) / 16_000 + 0.5) * fps)]
        encode(out / f"wrong_digits_{i}.mp4", frames, fit(audio, len(frames) / fps), fps)
        rows.append((str((out / f"wrong_digits_{i}.mp4").resolve()), "attack", "wrong_digits", asked, "", "video"))

    with (out / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "attack_type", "digits", "turns", "source"])
        writer.writerows(rows)
    counts: dict[str, int] = {}
    for _, _, kind, *_ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    print(f"{len(rows)} recordings in {out}/manifest.csv: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
