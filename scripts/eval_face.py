"""Face verification accuracy on labelled pairs.

    .venv/bin/python scripts/eval_face.py --pairs CSV --images DIR [--model-dir DIR]

CSV columns ``file_x,file_y,Decision`` (Yes = same person), paths relative to DIR. Each image's
largest face is embedded; images with no face, several faces or that do not decode are counted
and listed, and their pairs reported as unscorable, never dropped silently. Prints a table, then
one JSON line with pairs, auc, eer, tar_at_far_1e-3 and threshold_at_far_1e-3.

The repository's pairs over ../shared/data/faces: scripts/data/face_pairs_shared.csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_service.inference import media
from identity_service.inference.biometrics import Biometrics
from identity_service.settings import Settings
from kernel.errors import DomainError
from scripts._eval_common import report, score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    biometrics = Biometrics.load(args.model_dir or Settings().resolved_model_dir())
    with args.pairs.open(newline="") as handle:
        pairs = [(r["file_x"], r["file_y"], r["Decision"].strip().lower() == "yes") for r in csv.DictReader(handle)]
    embeddings: dict[str, np.ndarray] = {}
    no_face: list[str] = []
    several_faces: list[str] = []
    unreadable: list[str] = []
    for name in sorted({p for x, y, _ in pairs for p in (x, y)}):
        try:
            image = media.decode_image((args.images / name).read_bytes())
        except (OSError, DomainError):
            unreadable.append(name)
            continue
        faces = biometrics.faces([image])[0]
        if not faces:
            no_face.append(name)
            continue
        if len(faces) > 1:
            several_faces.append(name)  # scored with the largest face, and counted here
        embeddings[name] = max(faces, key=lambda f: f.quality.size_px).embedding
    genuine, impostor, unscorable = [], [], 0
    for x, y, same in pairs:
        if x not in embeddings or y not in embeddings:
            unscorable += 1
            continue
        (genuine if same else impostor).append(float(embeddings[x] @ embeddings[y]))
    metrics = score(genuine, impostor)
    if metrics is None:
        return 2
    report(f"face verification: {args.pairs}", metrics, {
        "images": len(embeddings) + len(no_face) + len(unreadable), "unscorable_pairs": unscorable,
        "no_face": len(no_face), "several_faces": len(several_faces), "unreadable": len(unreadable),
        "no_face_files": no_face, "several_faces_files": several_faces, "unreadable_files": unreadable,
        "model": "insightface buffalo_sc (scrfd_500m_bnkps + w600k_mbf)", "providers": biometrics.providers,
    }, impostor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
