"""Signed firmware checked at upload (chargepoints.firmware_signatures): real keys, certificates and signatures."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from chargepoints.firmware_signatures import SignatureRefused, check_firmware_signature, load_signing_roots

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
IMAGE = b"coopgrid charger firmware 2.4.1\n" * 1000
DIGEST = hashlib.sha256(IMAGE).digest()

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def certificate(name: str, key: Key, issuer: tuple[str, Key] | None = None, *, days: int = 365) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(key: Key, image: bytes = IMAGE, scheme: str = "pss") -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(image, ec.ECDSA(hashes.SHA256()))
    elif scheme == "pss":
        raw = key.sign(image, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        raw = key.sign(image, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


ROOT_KEY = rsa_key()
ROOT = certificate("Maker Firmware Root", ROOT_KEY)
SUB_KEY = ec.generate_private_key(ec.SECP256R1())
SUB = certificate("Maker Firmware Sub-CA", SUB_KEY, ("Maker Firmware Root", ROOT_KEY))
SIGNER_KEY = rsa_key()
SIGNER = certificate("Maker Firmware Signer", SIGNER_KEY, ("Maker Firmware Root", ROOT_KEY))
EC_SIGNER_KEY = ec.generate_private_key(ec.SECP256R1())
EC_SIGNER = certificate("Maker EC Signer", EC_SIGNER_KEY, ("Maker Firmware Sub-CA", SUB_KEY))


def check(cert: str, signature: str, roots: list[x509.Certificate] | None = None, digest: bytes = DIGEST) -> str:
    return check_firmware_signature(digest, cert, signature, roots=roots, now=NOW)


def refused(cert: str, signature: str, roots: list[x509.Certificate] | None = None, **kw: bytes) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        check(cert, signature, roots, **kw)
    return caught.value


def test_rsa_pss_pkcs1_and_ecdsa_signatures_verify() -> None:
    assert check(pem(SIGNER), signed(SIGNER_KEY)) == "RSA-PSS"
    assert check(pem(SIGNER), signed(SIGNER_KEY, scheme="pkcs1")) == "RSA-PKCS1v15"
    assert check(pem(EC_SIGNER), signed(EC_SIGNER_KEY)) == "ECDSA"
    der_hex = SIGNER.public_bytes(serialization.Encoding.DER).hex()  # the whitepaper's earlier encoding
    assert check(der_hex, signed(SIGNER_KEY)) == "RSA-PSS"


def test_a_signature_of_another_image_or_by_another_key_is_refused() -> None:
    other = refused(pem(SIGNER), signed(SIGNER_KEY, IMAGE + b"tampered"))
    assert (other.field, other.code) == ("signature", "InvalidSignature")
    by_someone_else = refused(pem(SIGNER), signed(rsa_key()))
    assert (by_someone_else.field, by_someone_else.code) == ("signature", "InvalidSignature")
    assert refused(pem(EC_SIGNER), signed(SIGNER_KEY)).code == "InvalidSignature"
    assert refused(pem(SIGNER), "not base64 at all!").field == "signature"


def test_the_certificate_must_parse_be_valid_now_and_chain_to_the_roots() -> None:
    broken = refused("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", signed(SIGNER_KEY))
    assert (broken.field, broken.code) == ("signing_certificate", "InvalidCertificate")
    assert refused("zz not hex", signed(SIGNER_KEY)).code == "InvalidCertificate"
    old_key = rsa_key()
    expired = certificate("Old Signer", old_key, ("Maker Firmware Root", ROOT_KEY), days=1)
    with pytest.raises(SignatureRefused) as caught:
        check_firmware_signature(DIGEST, pem(expired), signed(old_key), roots=None, now=NOW + timedelta(days=2))
    assert caught.value.code == "ExpiredCertificate"
    roots = load_signing_roots(pem(ROOT).encode())
    assert check(pem(SIGNER), signed(SIGNER_KEY), roots) == "RSA-PSS"  # issued by the root itself
    assert check(pem(EC_SIGNER, SUB), signed(EC_SIGNER_KEY), roots) == "ECDSA"  # through the sub-CA it carries
    assert refused(pem(EC_SIGNER), signed(EC_SIGNER_KEY), roots).code == "UntrustedCertificate"  # sub-CA missing
    stranger_key = rsa_key()
    stranger_root = certificate("Maker Firmware Root", stranger_key)  # the same name, another key
    untrusted = refused(pem(SIGNER), signed(SIGNER_KEY), load_signing_roots(pem(stranger_root).encode()))
    assert (untrusted.field, untrusted.code) == ("signing_certificate", "UntrustedCertificate")
    self_signed_key = rsa_key()
    self_signed = certificate("Self", self_signed_key)
    assert refused(pem(self_signed), signed(self_signed_key), roots).code == "UntrustedCertificate"
    assert check(pem(self_signed), signed(self_signed_key)) == "RSA-PSS"  # no roots configured: any valid one


@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_is_refused_with_a_named_field_never_an_exception(cert: str, signature: str) -> None:
    with pytest.raises(SignatureRefused) as caught:
        check(cert, signature)
    assert caught.value.field in ("signing_certificate", "signature")


@given(st.binary(min_size=1, max_size=600))
def test_any_signature_bytes_but_the_right_ones_are_refused(raw: bytes) -> None:
    with pytest.raises(SignatureRefused) as caught:
        check(pem(EC_SIGNER), base64.b64encode(raw).decode())
    assert caught.value.code == "InvalidSignature"
