"""The import rules of ARCHITECTURE.md, read from the source: no cycles between modules or
packages, and domain packages that import only the kernel, each other as drawn, and no framework
or adapter."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("kernel", "liveness", "consent", "auditlog", "identity", "identity_service")
# Which project packages each domain package may import (besides itself).
DOMAIN_ALLOWED = {
    "kernel": set(),
    "liveness": {"kernel"},
    "auditlog": {"kernel"},
    "consent": {"kernel", "auditlog"},
    "identity": {"kernel", "auditlog", "liveness", "consent"},
}
# Frameworks, drivers and model runtimes: adapters' business, never a domain package's.
FRAMEWORKS = {"grpc", "google", "fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "alembic", "psycopg",
              "onnxruntime", "faster_whisper", "ctranslate2", "av", "cv2", "torch", "speechbrain", "click",
              "prometheus_client", "faiss", "likeness"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in the file, function bodies included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> project modules it imports; module -> every top-level name it imports."""
    modules = _modules()
    internal: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in _imports(path):
            if target in modules and target != name:
                internal[name].add(target)
            external[name].add(target.split(".")[0])
    return internal, external


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_modules_or_packages() -> None:
    internal, _ = _graph()
    assert _cycles(internal) == []
    # Packages one level down (identity_service.storage, auditlog, ...) must not cycle either.
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in internal.items():
        for target in targets:
            a, b = ".".join(source.split(".")[:2]), ".".join(target.split(".")[:2])
            # A top-level module counts as its own package (identity_service.wiring).
            if a != b and not (b == source.split(".")[0] or a == target.split(".")[0]):
                packages[a].add(b)
    assert _cycles(packages) == []


@pytest.mark.parametrize("package", sorted(DOMAIN_ALLOWED))
def test_a_domain_package_imports_only_the_kernel_and_the_domains_drawn(package: str) -> None:
    internal, external = _graph()
    for module in (m for m in internal.keys() | external.keys() if m.split(".")[0] == package):
        project = {t.split(".")[0] for t in internal.get(module, set())} - {package}
        assert project <= DOMAIN_ALLOWED[package], f"{module} imports {sorted(project - DOMAIN_ALLOWED[package])}"
        frameworks = external.get(module, set()) & FRAMEWORKS
        assert not frameworks, f"{module} imports {sorted(frameworks)}"
        assert "identity_service" not in external.get(module, set()), module


def test_the_rules_see_a_violation() -> None:
    """The checker itself: a cycle and a forbidden import are found, so the tests above can fail."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "grpc" in {name.split(".")[0] for name in _imports(ROOT / "identity_service" / "transport" / "server.py")}


def test_every_package_is_installed_type_checked_and_copied_into_the_image() -> None:
    """A new package that pyproject, mypy or the Dockerfile forgets works here (the tests run
    from the checkout) and fails in the image."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in (*PACKAGES, "likeness"):
        assert package in included, package
        assert f"COPY {package} ./{package}" in dockerfile, package
    assert set(PACKAGES) <= set(project["tool"]["mypy"]["packages"])


def test_the_two_transports_stand_side_by_side() -> None:
    """gRPC and HTTP are peers: neither imports the other; ``runtime`` starts both."""
    internal, _ = _graph()
    for module, targets in internal.items():
        for mine, other in (("identity_service.transport", "identity_service.userapi"),
                            ("identity_service.userapi", "identity_service.transport")):
            if module.startswith(mine):
                assert not any(t.startswith(other) for t in targets), f"{module} imports {other}"
