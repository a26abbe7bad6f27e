"""The API contract: generated code is fresh, every error reason and RPC is declared."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from identity_service.transport.auth import METHOD_ROLES
from identity_service.transport.server import SERVICE_NAMES
from kernel.errors import all_error_classes
from likeness.audit.v1 import audit_service_pb2
from likeness.common.v1 import common_pb2
from likeness.consent.v1 import consent_service_pb2
from likeness.identity.v1 import identity_service_pb2

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(ROOT) for p in (ROOT / "likeness").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed, "generated file set differs: run scripts/gen_protos.py"
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, ROOT / p, shallow=False)]
    assert not stale, f"stale generated code, run scripts/gen_protos.py: {stale}"


def test_every_domain_reason_is_in_the_proto_enum() -> None:
    declared = set(common_pb2.ErrorReason.keys())
    used = {cls.reason for cls in all_error_classes()}
    assert used <= declared, used - declared


def test_every_rpc_names_its_roles() -> None:
    methods = set()
    for module, name in (
        (identity_service_pb2, "IdentityService"),
        (consent_service_pb2, "ConsentService"),
        (audit_service_pb2, "AuditService"),
    ):
        service = module.DESCRIPTOR.services_by_name[name]
        assert service.full_name in SERVICE_NAMES
        methods |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert methods == set(METHOD_ROLES)


def test_generator_may_check_but_not_delete() -> None:
    assert "generator" in {r.value for r in METHOD_ROLES[
        "/likeness.consent.v1.ConsentService/CheckCameoPermission"]}
    assert "generator" not in {r.value for r in METHOD_ROLES[
        "/likeness.identity.v1.IdentityService/DeleteSubject"]}


def test_enums_have_unspecified_zero() -> None:
    for module in (common_pb2, identity_service_pb2, consent_service_pb2, audit_service_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.name


def test_every_list_rpc_is_paginated() -> None:
    for module in (identity_service_pb2, consent_service_pb2, audit_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.name.startswith("List") and method.name != "ListRevocations":
                    assert "page_size" in method.input_type.fields_by_name, method.name
                    assert "page_token" in method.input_type.fields_by_name, method.name
                    assert "next_page_token" in method.output_type.fields_by_name, method.name
