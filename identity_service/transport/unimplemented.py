"""Servicers for areas another issue builds: every method answers UNIMPLEMENTED with an
ErrorInfo naming the method and where the work is tracked. Nothing pretends to work."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from identity_service.errors import NotImplementedYet


def unimplemented_servicer(base: type[Any], service: ServiceDescriptor, tracking: str) -> Any:
    """An instance of a subclass of ``base`` whose every RPC raises NotImplementedYet."""

    def make(name: str) -> Any:
        def method(self: Any, request: Any, context: Any) -> Any:
            raise NotImplementedYet(name, tracking)

        method.__name__ = name
        return method

    namespace = {m.name: make(m.name) for m in service.methods}
    return type(f"Unimplemented{service.name}", (base,), namespace)()
