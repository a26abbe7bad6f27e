"""mTLS: callers identified by their client certificate's CN; no certificate, no connection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from identity_service.settings import CallerEntry
from identity_service.wiring import build_app
from likeness.identity.v1 import identity_service_pb2 as pb
from likeness.identity.v1 import identity_service_pb2_grpc as pb_grpc
from tests.conftest import error_info, test_settings


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(cn: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None, *, ca: bool = False,
           server: bool = False) -> tuple[bytes, bytes, ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer or _name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, key, _name(cn)


def test_client_certificates_identify_callers(tmp_path: Path) -> None:
    ca_pem, _, ca_key, ca_name = _issue("likeness test CA", None, None, ca=True)
    server_pem, server_key, _, _ = _issue("localhost", ca_key, ca_name, server=True)
    known_pem, known_key, _, _ = _issue("video-gen.prod", ca_key, ca_name)
    stranger_pem, stranger_key, _, _ = _issue("stranger", ca_key, ca_name)
    for name, data in {"ca.pem": ca_pem, "server.pem": server_pem, "server.key": server_key}.items():
        (tmp_path / name).write_bytes(data)
    settings = test_settings(
        tmp_path, tls_cert_file=tmp_path / "server.pem", tls_key_file=tmp_path / "server.key",
        tls_client_ca_file=tmp_path / "ca.pem",
        callers=[CallerEntry(name="video-gen", roles=["app"], certificate_cn="video-gen.prod")],
    )
    app = build_app(settings)
    from identity_service.transport.server import create_server

    server, port, _ = create_server(app, "localhost:0")
    server.start()
    options = (("grpc.ssl_target_name_override", "localhost"),)
    try:
        def call(cert: bytes | None, key: bytes | None) -> pb.StartEnrollmentResponse:
            creds = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key, certificate_chain=cert)
            with grpc.secure_channel(f"localhost:{port}", creds, options=options) as channel:
                return pb_grpc.IdentityServiceStub(channel).StartEnrollment(
                    pb.StartEnrollmentRequest(subject_id="alice"), timeout=5)

        assert call(known_pem, known_key).session_id
        with pytest.raises(grpc.RpcError) as err:
            call(stranger_pem, stranger_key)
        assert error_info(err.value)[:2] == (grpc.StatusCode.UNAUTHENTICATED, "ERROR_REASON_CALLER_UNAUTHENTICATED")
        with pytest.raises(grpc.RpcError) as err:
            call(None, None)  # no client certificate: the TLS handshake itself fails
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(None).wait()
        app.close()
