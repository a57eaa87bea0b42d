"""A station's installed certificates, managed by the central system (pure): what to send and how to read
the answers, per OCPP version (1.6 security extension; 2.0.1 and 2.1 M03–M05).

1.6 asks GetInstalledCertificateIds one certificate type at a time and answers `certificateHashData`;
2.0.1/2.1 take a list of types (none: all) and answer `certificateHashDataChain`, each entry with its
type. Both delete by the certificate's hash data, as listed.
"""

from __future__ import annotations

from typing import Any

TYPES = {
    "1.6": ("CentralSystemRootCertificate", "ManufacturerRootCertificate"),
    "2.0.1": ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "V2GCertificateChain",
              "ManufacturerRootCertificate"),
    "2.1": ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "V2GCertificateChain",
            "ManufacturerRootCertificate", "OEMRootCertificate"),
}  # fmt: skip
INSTALLABLE = {
    "1.6": TYPES["1.6"],
    "2.0.1": ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "ManufacturerRootCertificate"),
    "2.1": ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "ManufacturerRootCertificate",
            "OEMRootCertificate"),
}  # fmt: skip
HASH_FIELDS = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")


class CertificateRequestError(ValueError):
    """A request that cannot be sent as asked; the message names the field."""


def install_request(version: str, certificate_type: str, certificate_pem: str) -> dict[str, Any]:
    if certificate_type not in INSTALLABLE[version]:
        raise CertificateRequestError(
            f"certificate_type: OCPP {version} installs {', '.join(INSTALLABLE[version])}, not {certificate_type!r}"
        )
    if "-----BEGIN CERTIFICATE-----" not in certificate_pem:
        raise CertificateRequestError("certificate: a PEM certificate (-----BEGIN CERTIFICATE-----)")
    return {"certificateType": certificate_type, "certificate": certificate_pem}


def list_requests(version: str, types: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The GetInstalledCertificateIds calls that list `types` (none: every type)."""
    unknown = [t for t in types if t not in TYPES[version]]
    if unknown:
        raise CertificateRequestError(f"type: OCPP {version} has no certificate type {unknown[0]!r}")
    if version == "1.6":
        return [{"certificateType": t} for t in (types or TYPES["1.6"])]
    return [{"certificateType": list(types)}] if types else [{}]


def installed(version: str, asked: list[dict[str, Any]], answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The certificates the answers list: type, hash algorithm, issuer name and key hashes, serial number."""
    found: list[dict[str, Any]] = []
    for request, answer in zip(asked, answers, strict=True):
        if answer.get("status") != "Accepted":
            continue
        if version == "1.6":
            for data in answer.get("certificateHashData") or []:
                found.append({"certificate_type": request["certificateType"], **_hash(data)})
        else:
            for chain in answer.get("certificateHashDataChain") or []:
                found.append({"certificate_type": chain.get("certificateType"), **_hash(chain["certificateHashData"])})
    return found


def delete_request(entry: dict[str, Any]) -> dict[str, Any]:
    """DeleteCertificate for one listed certificate (both versions)."""
    return {"certificateHashData": {field: entry[_snake(field)] for field in HASH_FIELDS}}


def _hash(data: dict[str, Any]) -> dict[str, Any]:
    return {_snake(field): data.get(field) for field in HASH_FIELDS}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
