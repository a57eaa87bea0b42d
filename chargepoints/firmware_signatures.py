"""Signed firmware (OCPP 1.6 security extension SignedUpdateFirmware, 2.0.1/2.1 UpdateFirmware, use case L01):
the signing certificate and signature an image is uploaded with, checked before any charger is sent them.

A station validates the signing certificate against its manufacturer root and the signature over the whole
file; an image whose certificate or signature is wrong is downloaded, refused (`InvalidCertificate`,
`InvalidSignature`) and kept out of every station it was meant for. Checking at upload makes that an
operator's error message instead of a fleet of failed updates:
- the certificate: PEM (the whitepaper's edition 3 and 2.0.1), or the hex-encoded DER of its earlier
  editions; a PEM chain may follow it with its sub-CAs; within its validity period;
- its issuer, when the installation names the firmware signing roots: the chain ends at one of them;
- the signature: base64, verified over the SHA-256 of the file with the certificate's key: RSA-PSS (the
  specification's; any salt length) or PKCS#1 v1.5 for an RSA key, ECDSA for an EC key. The specification
  also allows ECSchnorr, which `cryptography` does not verify: such an image is refused unless the check is
  turned off (`files.verify_firmware_signatures = false`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


@dataclass(frozen=True)
class SignatureRefused(Exception):
    """Why an image's signing certificate or signature is refused: the form field and an error code."""

    field: str
    code: str  # InvalidCertificate | UntrustedCertificate | ExpiredCertificate | InvalidSignature
    why: str

    def __str__(self) -> str:
        return f"{self.field}: {self.why}"


def load_signing_roots(pem: bytes) -> list[x509.Certificate]:
    """The installation's firmware signing roots (a PEM file of CA certificates). ValueError when none."""
    roots = x509.load_pem_x509_certificates(pem)
    if not roots:
        raise ValueError("no certificate")
    return roots


def parse_signing_certificate(text: str) -> list[x509.Certificate]:
    """The signing certificate first, then any sub-CAs the PEM carries after it."""
    text = text.strip()
    try:
        if "-----BEGIN" in text:
            return x509.load_pem_x509_certificates(text.encode("ascii", "replace"))
        return [x509.load_der_x509_certificate(bytes.fromhex(text))]
    except ValueError as exc:
        raise SignatureRefused(
            "signing_certificate", "InvalidCertificate", f"not a PEM (or hex DER) X.509 certificate ({exc})"
        ) from None


def parse_signature(text: str) -> bytes:
    try:
        signature = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRefused("signature", "InvalidSignature", "not base64") from None
    if not signature:
        raise SignatureRefused("signature", "InvalidSignature", "empty")
    return signature


def _check_chain(chain: list[x509.Certificate], roots: list[x509.Certificate] | None, now: datetime) -> None:
    leaf = chain[0]
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        valid = f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d}"
        raise SignatureRefused("signing_certificate", "ExpiredCertificate", f"valid only from {valid}")
    if roots is None:
        return
    current = leaf
    for _ in range(len(chain) + 1):  # each link: issued by a root (done), else by the chain's next certificate
        for root in roots:
            if root.subject == current.issuer and _issued_by(current, root):
                return
        issuer = next((c for c in chain[1:] if c.subject == current.issuer and _issued_by(current, c)), None)
        if issuer is None or issuer is current:
            break
        current = issuer
    raise SignatureRefused(
        "signing_certificate", "UntrustedCertificate", "not issued under the installation's firmware signing roots"
    )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _verifies(key: object, signature: bytes, digest: bytes) -> str | None:
    """The scheme under which `signature` is the key's over a SHA-256 `digest`, None when none is."""
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            for name, scheme in (
                ("RSA-PSS", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)),
                ("RSA-PKCS1v15", padding.PKCS1v15()),
            ):
                try:
                    key.verify(signature, digest, scheme, prehashed)
                    return name
                except InvalidSignature:
                    continue
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return "ECDSA"
    except (InvalidSignature, ValueError):
        return None
    return None


def check_firmware_signature(
    sha256_digest: bytes,
    certificate: str,
    signature: str,
    *,
    roots: list[x509.Certificate] | None,
    now: datetime,
) -> str:
    """The scheme the image's signature verified under; SignatureRefused (naming the field) otherwise.

    `sha256_digest`: the SHA-256 of the whole image, as stored."""
    chain = parse_signing_certificate(certificate)
    raw = parse_signature(signature)
    _check_chain(chain, roots, now)
    scheme = _verifies(chain[0].public_key(), raw, sha256_digest)
    if scheme is None:
        raise SignatureRefused(
            "signature",
            "InvalidSignature",
            "not a signature of this image by the signing certificate's key (RSA-PSS, PKCS#1 v1.5 or ECDSA, SHA-256)",
        )
    return scheme
