"""The certificate authority behind SignCertificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.pki import CertificateAuthority


def make_csr(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_signed_certificate_names_the_charger_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority.load_or_create(tmp_path / "ca.pem", tmp_path / "ca.key")
    chain = ca.sign_csr("CP-42", make_csr("someone-else"))
    certs = x509.load_pem_x509_certificates(chain.encode())
    assert len(certs) == 2
    leaf, root = certs
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-42"
    leaf.verify_directly_issued_by(root)
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0


def test_ca_is_reloaded_not_regenerated(tmp_path: Path) -> None:
    first = CertificateAuthority.load_or_create(tmp_path / "ca.pem", tmp_path / "ca.key")
    second = CertificateAuthority.load_or_create(tmp_path / "ca.pem", tmp_path / "ca.key")
    assert first.cert_pem == second.cert_pem


def test_garbage_csr_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority.create()
    with pytest.raises(ValueError, match="certificate signing request"):
        ca.sign_csr("CP", "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n")
