"""ISO 15118 Plug & Charge: contract certificates named by their hash data, checked by OCSP (pure).

No I/O here: the OCSP request is built and its response judged; sending it is the gateway's
(gateway.ocsp). The time is passed in. What lives here:
- `parse_hash_data`: an OCPP OCSPRequestDataType (hex hashes, hex serial) read, or ValueError saying why;
- `ContractRoots`: the configured contract-certificate CAs (roots and sub-CAs), and which of them issued a
  certificate named by hash data (the hashes of its issuer's name and key, RFC 6960 CertID);
- `ocsp_request` and `ocsp_verdict`: the DER request for that certificate, and what the responder's answer
  means as OCPP's AuthorizeCertificateStatus (Accepted, CertificateRevoked, NoCertificateAvailable,
  SignatureError), its signature checked against the issuer (or a responder certificate the issuer signed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class HashData:
    """A certificate named by the hashes of its issuer and its serial number (OCPP OCSPRequestDataType)."""

    algorithm: str  # SHA256 | SHA384 | SHA512
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int


def _hex(item: dict[str, Any], name: str, size: int | None) -> bytes:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name} is not hexadecimal") from None
    if size is not None and len(raw) != size:
        raise ValueError(f"{name} is not a {size * 8}-bit hash")
    return raw


def parse_hash_data(item: dict[str, Any]) -> HashData:
    """One OCSPRequestDataType; ValueError naming the field that cannot be used."""
    algorithm = item.get("hashAlgorithm")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"hashAlgorithm {str(algorithm)[:16]!r} is not SHA256, SHA384 or SHA512")
    size = ALGORITHMS[algorithm]().digest_size
    serial = item.get("serialNumber")
    if not isinstance(serial, str) or not serial:
        raise ValueError("serialNumber is missing")
    try:
        number = int(serial, 16)
    except ValueError:
        raise ValueError("serialNumber is not hexadecimal") from None
    if number <= 0 or number.bit_length() > 160:
        raise ValueError("serialNumber is not a positive number of at most 20 bytes")
    return HashData(algorithm, _hex(item, "issuerNameHash", size), _hex(item, "issuerKeyHash", size), number)


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents (what RFC 6960 hashes as issuerKeyHash)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    position = _skip_header(spki, 0)  # into the SEQUENCE
    position = _skip_header(spki, position) + _length(spki, position)[0]  # past the AlgorithmIdentifier
    start = _skip_header(spki, position)  # the BIT STRING's contents
    return spki[start + 1 : start + _length(spki, position)[0]]  # without its unused-bits byte


def _length(der: bytes, position: int) -> tuple[int, int]:
    """(length, size of the length octets) of the DER element at `position`."""
    first = der[position + 1]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    return int.from_bytes(der[position + 2 : position + 2 + count], "big"), 1 + count


def _skip_header(der: bytes, position: int) -> int:
    return position + 1 + _length(der, position)[1]


def issuer_hashes(certificate: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of the certificates `certificate` issues."""
    name, key = certificate.subject.public_bytes(), _key_bits(certificate)
    return hashlib.new(algorithm.lower(), name).digest(), hashlib.new(algorithm.lower(), key).digest()


class ContractRoots:
    """The contract-certificate CAs an installation trusts (PEM: roots and sub-CAs, one after the other)."""

    def __init__(self, certificates: list[x509.Certificate]) -> None:
        if not certificates:
            raise ValueError("no certificate")
        self.certificates = certificates
        self._hashes = {
            (algorithm, *issuer_hashes(certificate, algorithm)): certificate
            for certificate in certificates
            for algorithm in ALGORITHMS
        }

    @classmethod
    def from_pem(cls, pem: bytes) -> ContractRoots:
        return cls(x509.load_pem_x509_certificates(pem))

    def issuer_of(self, data: HashData) -> x509.Certificate | None:
        return self._hashes.get((data.algorithm, data.issuer_name_hash, data.issuer_key_hash))


def hash_data_of(pem: str, roots: ContractRoots) -> dict[str, Any]:
    """The OCSP hash data of a PEM chain's first certificate (an Authorize's `certificate`): its issuer the
    chain's next certificate, else the contract CA named its issuer. ValueError when neither is at hand."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate chain ({exc})") from None
    leaf = chain[0]
    candidates = [*chain[1:], *roots.certificates]
    issuer = next((c for c in candidates if c.subject == leaf.issuer), None)
    if issuer is None:
        raise ValueError("its issuer is neither in the chain nor among the contract CAs")
    name_hash, key_hash = issuer_hashes(issuer, "SHA256")
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": name_hash.hex(),
        "issuerKeyHash": key_hash.hex(),
        "serialNumber": format(leaf.serial_number, "x"),
    }


def ocsp_request(data: HashData) -> bytes:
    """The DER OCSP request for the certificate the hash data names."""
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        data.issuer_name_hash, data.issuer_key_hash, data.serial_number, ALGORITHMS[data.algorithm]()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def _signed_by(response: ocsp.OCSPResponse, key: Any) -> bool:
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _signer_trusted(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Signed by the issuer itself, or by a responder certificate it issued for OCSP signing."""
    if _signed_by(response, issuer.public_key()):
        return True
    for delegate in response.certificates:
        try:
            delegate.verify_directly_issued_by(issuer)
            usage = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage and _signed_by(response, delegate.public_key()):
            return True
    return False


def ocsp_verdict(der: bytes, data: HashData, issuer: x509.Certificate, now: datetime) -> str:
    """What the responder's answer says of the certificate, as an AuthorizeCertificateStatus."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        return "NoCertificateAvailable"
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return "NoCertificateAvailable"
    if not _signer_trusted(response, issuer):
        return "SignatureError"
    for single in response.responses:
        same = (
            single.serial_number == data.serial_number
            and single.issuer_name_hash == data.issuer_name_hash
            and single.issuer_key_hash == data.issuer_key_hash
        )
        if not same:
            continue
        fresh = single.this_update_utc <= now + CLOCK_SKEW and (
            single.next_update_utc is None or single.next_update_utc >= now - CLOCK_SKEW
        )
        if not fresh:
            return "NoCertificateAvailable"
        if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
            return "Accepted"
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            return "CertificateRevoked"
        return "NoCertificateAvailable"
    return "NoCertificateAvailable"
