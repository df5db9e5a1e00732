"""A local TLS certificate made at test time, for test servers that must speak https."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any


def self_signed(key: Any, common_name: str, start: datetime.datetime, end: datetime.datetime) -> Any:
    """A ``CertificateBuilder`` for a certificate of ``key`` issued to and by ``common_name``, valid start..end."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def self_signed_certificate(directory: Path, common_name: str, dns_names: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """(certificate, key) PEM files in ``directory``: a certificate for 127.0.0.1 (and ``dns_names``) that is its
    own CA (as a cluster's ca.crt signs the API server's), so a client trusts the server by trusting this one file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        self_signed(key, common_name, now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), *(x509.DNSName(d) for d in dns_names)]
            ),
            False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
