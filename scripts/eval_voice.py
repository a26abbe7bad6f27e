"""Speaker verification accuracy over every pair of utterances.

    .venv/bin/python scripts/eval_voice.py --root DIR [--model-dir DIR]

Files ``DIR/SPEAKER/**/*.wav|flac``; every pair is scored (same speaker = genuine). Files in which
no speech is found, or that are refused (8 kHz, clipped, corrupt), are counted and listed, and
their pairs reported as unscorable. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference.biometrics import Biometrics
from identity_service.settings import Settings
from kernel.errors import DomainError, NoSpeech
from scripts._eval_common import report, score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    biometrics = Biometrics.load(args.model_dir or Settings().resolved_model_dir())
    files = sorted(p for p in args.root.glob("*/**/*") if p.suffix.lower() in (".wav", ".flac"))
    if not files:
        print(f"no .wav or .flac files under {args.root}/SPEAKER/", file=sys.stderr)
        return 2
    embeddings: dict[Path, np.ndarray] = {}
    no_speech: list[str] = []
    refused: dict[str, str] = {}
    for path in files:
        try:
            embeddings[path] = biometrics.voice_from_audio(path.read_bytes()).embedding
        except NoSpeech:
            no_speech.append(str(path.relative_to(args.root)))
        except DomainError as error:
            refused[str(path.relative_to(args.root))] = error.reason
    genuine, impostor, unscorable = [], [], 0
    for a, b in itertools.combinations(files, 2):
        if a not in embeddings or b not in embeddings:
            unscorable += 1
            continue
        speaker_a = a.relative_to(args.root).parts[0]
        speaker_b = b.relative_to(args.root).parts[0]
        (genuine if speaker_a == speaker_b else impostor).append(float(embeddings[a] @ embeddings[b]))
    metrics = score(genuine, impostor)
    if metrics is None:
        return 2
    report(f"voice verification: {args.root}", metrics, {
        "files": len(files), "speakers": len({f.relative_to(args.root).parts[0] for f in files}),
        "unscorable_pairs": unscorable, "no_speech": len(no_speech), "refused": len(refused),
        "no_speech_files": no_speech, "refused_files": refused,
        "model": "speechbrain spkrec-ecapa-voxceleb (ONNX) + silero VAD", "providers": biometrics.providers,
    }, impostor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
