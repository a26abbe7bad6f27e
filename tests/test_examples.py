"""The documentation's examples are real: a request body for every RPC that parses into its
request message, and the README's quickstart is tests/test_demo.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import MethodDescriptor

from likeness.audit.v1 import audit_service_pb2
from likeness.consent.v1 import consent_service_pb2
from likeness.identity.v1 import identity_service_pb2
from tests.conftest import ROOT

MODULES = (identity_service_pb2, consent_service_pb2, audit_service_pb2)


def every_method() -> dict[str, MethodDescriptor]:
    return {f"{service.full_name}/{method.name}": method for module in MODULES
            for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods}


def test_every_rpc_has_a_request_body_that_parses() -> None:
    examples: dict[str, Any] = json.loads((ROOT / "examples" / "grpc_requests.json").read_text())
    examples.pop("//")
    methods = every_method()
    assert set(examples) == set(methods), (set(methods) - set(examples), set(examples) - set(methods))
    from google.protobuf import message_factory

    for name, body in examples.items():
        method = methods[name]
        request_class = message_factory.GetMessageClass(method.input_type)
        bodies = body if method.client_streaming else [body]
        assert isinstance(bodies, list) and bodies, name
        for each in bodies:
            json_format.ParseDict(each, request_class())  # raises on an unknown field or a bad value


def test_the_dev_user_token_example_makes_keys_and_tokens_the_user_api_accepts(tmp_path: Path) -> None:
    import subprocess
    import sys

    from identity_service.userapi.auth import UserTokenVerifier

    script = ROOT / "examples" / "dev_user_token.py"
    subprocess.run([sys.executable, str(script), "keys", str(tmp_path)], check=True, capture_output=True)
    token = subprocess.run([sys.executable, str(script), "token", str(tmp_path), "alice"], check=True,
                           capture_output=True, text=True).stdout.strip()
    verifier = UserTokenVerifier.from_files(jwks_file=tmp_path / "user-jwks.json", public_key_file=None,
                                            issuer="https://dev.example", audience="likeness-user-api",
                                            algorithms=["EdDSA"], leeway_seconds=30)
    assert verifier.verify(f"Bearer {token}").subject_id == "alice"


def test_the_readme_python_snippets_are_self_contained(tmp_path: Path) -> None:
    """Each ```python block of the README names nothing it does not define or import (ruff's
    undefined-name check), and each import resolves in this project."""
    import importlib
    import re
    import subprocess

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 3
    for index, block in enumerate(blocks):
        path = tmp_path / f"snippet_{index}.py"
        path.write_text(block, encoding="utf-8")
        checked = subprocess.run([str(ROOT / ".venv" / "bin" / "ruff"), "check", "--no-cache", "--isolated",
                                  "--select", "F821,F822,F823", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, f"README python block {index}:\n{block}\n{checked.stdout}"
        for module in re.findall(r"^(?:from|import) ([\w.]+)", block, re.M):
            importlib.import_module(module)
