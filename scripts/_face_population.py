"""A realistic population of face templates for the search benchmark and tests: real face
embeddings from ``../shared/data`` (every frame-level embedding labelled with its person), and a
generator of synthetic people whose templates are distributed like real ones.

Why not random unit vectors alone: real embeddings are not isotropic (they share a mean
direction and most of their spread lies in far fewer than 512 directions), and an approximate
index's recall depends on exactly that. Why not the real embeddings alone: ../shared/data holds
a few dozen people, not a million.

The generator fits, to the real embeddings, (1) the between-person spread: person means around
their common mean, a low-rank covariance from the real people, shrunk towards an isotropic one
so that it has full rank, and (2) the within-person spread: the covariance of the real frames' residuals around
their person's mean. A synthetic person is a draw of (1); each of their
templates (enrolled or probe) is that person plus a draw of (2). ``describe`` reports how
genuine and impostor similarities of the synthetic population compare with the real ones, so
the fit can be checked rather than trusted.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "var" / "bench-cache" / "face_embeddings.npz"
FRAME_SECONDS = 0.5
FRAMES_PER_CLIP = 24


def _sources() -> list[tuple[Path, str]]:
    """(file, person) for every real face recording and photo in ../shared/data."""
    found: list[tuple[Path, str]] = []
    with (DATA / "talking" / "MANIFEST.csv").open(newline="") as handle:
        found += [(DATA / "talking" / r["file"], r["person_label"]) for r in csv.DictReader(handle)]
    with (DATA / "talking2" / "MANIFEST.csv").open(newline="") as handle:
        found += [(DATA / "talking2" / r["file"], "talking2:" + r["file"]) for r in csv.DictReader(handle)]
    for clip in sorted((DATA / "video").glob("d*.mp4")):
        found.append((clip, "video:" + clip.stem))
    for folder in ("train", "test"):
        for image in sorted((DATA / "faces" / "knn_examples" / folder).glob("*/*")):
            found.append((image, "knn:" + image.parent.name))
    for image in sorted((DATA / "faces" / "test_images").glob("*")):
        name = image.stem.split("_")[0].rstrip("0123456789")
        if name in {"obama", "biden"}:
            found.append((image, "knn:" + name))
    return found


def real_embeddings(*, refresh: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings N x 512, person index per row): the largest face of each sampled frame or
    photo, from the project's own face models. Cached under var/ (never committed)."""
    sources = _sources()
    fingerprint = hashlib.sha256(json.dumps([(str(p), person) for p, person in sources]).encode()).hexdigest()
    if CACHE.exists() and not refresh:
        cached = np.load(CACHE)
        if str(cached["fingerprint"]) == fingerprint:
            return cached["embeddings"], cached["labels"]
    from identity_service.inference import media
    from identity_service.inference.biometrics import Biometrics
    from identity_service.settings import Settings

    biometrics = Biometrics.load(Settings().resolved_model_dir())
    people: dict[str, int] = {}
    rows: list[np.ndarray] = []
    labels: list[int] = []
    for path, person in sources:
        data = path.read_bytes()
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            images = [media.decode_image(data)]
        else:
            _, frames = media.video_frames(data, every_seconds=FRAME_SECONDS, max_frames=FRAMES_PER_CLIP)
            images = [frame for _, frame in frames]
        for faces in biometrics.faces(images):
            if faces:
                rows.append(max(faces, key=lambda f: f.quality.size_px).embedding)
                labels.append(people.setdefault(person, len(people)))
    embeddings = np.stack(rows).astype(np.float32)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, embeddings=embeddings, labels=np.asarray(labels), fingerprint=fingerprint)
    return embeddings, np.asarray(labels)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class FacePopulation:
    """Synthetic people distributed like the real ones (see the module docstring)."""

    mean: np.ndarray  # the real person means' common mean
    basis: np.ndarray  # between-person directions, scaled (rank x 512)
    isotropic: float  # per-dimension spread added in every direction
    residuals: np.ndarray  # real frames minus their person's mean
    centre_norm: float  # how long a real person's mean is (frames are unit length)

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: np.ndarray, shrink: float = 0.5) -> FacePopulation:
        """``shrink`` 0.5 matches the real impostor similarities' spread (sd 0.089 real, 0.091
        synthetic on 425 frames of 34 people; 0.2 gives 0.132 and 0.8 gives 0.057)."""
        people = np.unique(labels)
        means = np.stack([embeddings[labels == p].mean(axis=0) for p in people])
        residuals = embeddings - means[np.searchsorted(people, labels)]
        mean = means.mean(axis=0)
        deviations = means - mean
        # Between-person covariance from the real people, shrunk towards isotropic with the same
        # total variance: ``shrink`` of it in the real directions, the rest spread over all 512.
        total = float((deviations ** 2).sum(axis=1).mean())
        basis = deviations * np.sqrt((1 - shrink) / max(1, len(people) - 1))
        isotropic = float(np.sqrt(shrink * total / embeddings.shape[1]))
        centre_norm = float(np.linalg.norm(means, axis=1).mean())
        return cls(mean.astype(np.float32), basis.astype(np.float32), isotropic, residuals.astype(np.float32),
                   centre_norm)

    def people(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` synthetic people: unit direction of each person's centre."""
        weights = rng.standard_normal((count, len(self.basis)), dtype=np.float32)
        centres = self.mean + weights @ self.basis
        centres += self.isotropic * rng.standard_normal((count, self.mean.shape[0]), dtype=np.float32)
        return _unit(centres)

    def templates(self, people: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One template (enrolled or probe) per row of ``people``: the person plus a residual."""
        out = np.empty_like(people)
        step = 65536
        for start in range(0, len(people), step):
            chunk = people[start:start + step]
            # A draw with the real residuals' covariance, not one of them: reusing a few hundred
            # residuals would make every template share one of a few hundred offsets, a cluster
            # structure real faces do not have (an IVF index found those clusters instead of
            # people: recall@1 0.73 at 100k).
            weights = rng.standard_normal((len(chunk), len(self.residuals)), dtype=np.float32)
            noise = weights @ self.residuals
            # ... and as long as a real residual drawn at random, so that genuine similarity
            # varies as much as it does between real frames.
            lengths = np.linalg.norm(self.residuals[rng.integers(0, len(self.residuals), len(chunk))], axis=1)
            noise *= (lengths / np.linalg.norm(noise, axis=1))[:, None]
            out[start:start + step] = _unit(self.centre_norm * chunk + noise)
        return out


def similarity_summary(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    scores = np.sum(a * b, axis=1)
    return {"mean": round(float(scores.mean()), 3), "sd": round(float(scores.std()), 3),
            "p99": round(float(np.quantile(scores, 0.99)), 3)}


def describe(population: FacePopulation, embeddings: np.ndarray, labels: np.ndarray,
             rng: np.random.Generator, pairs: int = 20000) -> dict[str, dict[str, float]]:
    """Genuine and impostor similarity, real against synthetic, over ``pairs`` random pairs."""
    i, j = rng.integers(0, len(labels), pairs), rng.integers(0, len(labels), pairs)
    same = (labels[i] == labels[j]) & (i != j)
    other = labels[i] != labels[j]
    people = population.people(pairs, rng)
    others = population.people(pairs, rng)
    first, second = population.templates(people, rng), population.templates(people, rng)
    return {
        "real_genuine": similarity_summary(embeddings[i[same]], embeddings[j[same]]),
        "real_impostor": similarity_summary(embeddings[i[other]], embeddings[j[other]]),
        "synthetic_genuine": similarity_summary(first, second),
        "synthetic_impostor": similarity_summary(first, population.templates(others, rng)),
    }
