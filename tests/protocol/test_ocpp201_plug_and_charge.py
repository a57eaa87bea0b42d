"""ISO 15118 Plug & Charge: Authorize with iso15118CertificateHashData, exact frames over a real WebSocket.

The contract certificate's issuer must be one of the configured contract-certificate CAs, and the OCSP
responder (a loopback test double signing with that CA) must say it is good.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from chargepoints.contracts import issuer_hashes
from gateway.settings import ConfigError
from tests.fixtures.certs import Pki
from tests.fixtures.ocsp import ocsp_responder
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import connected

ID_TOKEN = {"idToken": "EMAID-OK", "type": "eMAID"}


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, Any]:
    name_hash, key_hash = issuer_hashes(issuer, "SHA256")
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": name_hash.hex(),
        "issuerKeyHash": key_hash.hex(),
        "serialNumber": format(certificate.serial_number, "x"),
        "responderURL": "http://192.0.2.1/ocsp",  # never asked: the configured responder is
    }


def contract(pki: Pki, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.issue(name)[0].read_bytes())


def settings(tmp_path: Path, pki: Pki, url: str) -> Any:
    ocpp = {"contract_roots": str(pki.ca_path), "ocsp_responder_url": url}
    return make_settings(tmp_path, ocpp=ocpp, id_tags=[{"id": "EMAID-OK"}])


async def authorize(platform: Any, items: list[dict[str, Any]]) -> list[Any]:
    async with connected(platform, "CP-A", "2.0.1") as client:
        payload = {"idToken": ID_TOKEN, "iso15118CertificateHashData": items}
        return await client.call("a", "Authorize", payload)


async def test_contract_certificates_are_checked_with_the_configured_responder(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "other").mkdir()
    pki, other = Pki.create(tmp_path / "ca"), Pki.create(tmp_path / "other")
    good, revoked, foreign = contract(pki, "EMAID-1"), contract(pki, "EMAID-2"), contract(other, "EMAID-3")
    async with (
        ocsp_responder(pki.ca_cert, pki.ca_key) as responder,
        running_platform(settings(tmp_path, pki, responder.url)) as platform,
    ):
        responder.revoked.add(revoked.serial_number)
        assert await authorize(platform, [hash_data(good, pki.ca_cert)]) == [
            3,
            "a",
            {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"},
        ]
        assert responder.requests == 1
        assert await authorize(platform, [hash_data(revoked, pki.ca_cert)]) == [
            3,
            "a",
            {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertificateRevoked"},
        ]
        assert await authorize(platform, [hash_data(foreign, other.ca_cert)]) == [
            3,
            "a",
            {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertChainError"},
        ]
        assert responder.requests == 2  # a certificate of no trusted CA is not asked about
        bad = {**hash_data(good, pki.ca_cert), "serialNumber": "not-hex"}
        assert (await authorize(platform, [bad]))[2]["certificateStatus"] == "CertChainError"
        # without hash data: the id token alone, as before
        async with connected(platform, "CP-A", "2.0.1") as client:
            assert await client.call("b", "Authorize", {"idToken": ID_TOKEN}) == [
                3,
                "b",
                {"idTokenInfo": {"status": "Accepted"}},
            ]
        events = platform.store.events
        kinds = [e["payload"]["status"] for e in await events.list("CP-A") if e["kind"] == "ContractCertificate"]
        assert kinds == ["CertChainError", "CertChainError", "CertificateRevoked", "Accepted"]


async def test_a_contract_certificate_sent_as_pem_is_checked_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "other").mkdir()
    pki, other = Pki.create(tmp_path / "ca"), Pki.create(tmp_path / "other")
    good, revoked, foreign = contract(pki, "EMAID-1"), contract(pki, "EMAID-2"), contract(other, "EMAID-3")

    def pem(*chain: x509.Certificate) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)

    async def authorize_pem(platform: Any, certificate: str) -> dict[str, Any]:
        async with connected(platform, "CP-A", "2.0.1") as client:
            answer = await client.call("p", "Authorize", {"idToken": ID_TOKEN, "certificate": certificate})
        return dict(answer[2])

    async with (
        ocsp_responder(pki.ca_cert, pki.ca_key) as responder,
        running_platform(settings(tmp_path, pki, responder.url)) as platform,
    ):
        responder.revoked.add(revoked.serial_number)
        assert await authorize_pem(platform, pem(good)) == {  # the issuer found among the contract CAs
            "idTokenInfo": {"status": "Accepted"},
            "certificateStatus": "Accepted",
        }
        assert (await authorize_pem(platform, pem(good, pki.ca_cert)))["certificateStatus"] == "Accepted"  # chain
        assert (await authorize_pem(platform, pem(revoked)))["certificateStatus"] == "CertificateRevoked"
        refused = await authorize_pem(platform, pem(foreign, other.ca_cert))  # a chain to a CA not trusted
        assert refused == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertChainError"}
        assert (await authorize_pem(platform, "-----BEGIN CERTIFICATE-----\nno\n"))["certificateStatus"] == (
            "CertChainError"
        )


async def test_a_badly_signed_or_missing_answer_authorizes_nothing(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    good = contract(pki, "EMAID-1")
    async with ocsp_responder(pki.ca_cert, pki.ca_key) as responder:
        responder.signer = ec.generate_private_key(ec.SECP256R1())
        async with running_platform(settings(tmp_path, pki, responder.url)) as platform:
            answer = await authorize(platform, [hash_data(good, pki.ca_cert)])
            assert answer[2] == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "SignatureError"}
    async with running_platform(settings(tmp_path, pki, responder.url)) as platform:  # the responder is gone
        answer = await authorize(platform, [hash_data(good, pki.ca_cert)])
        assert answer[2] == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "NoCertificateAvailable"}


async def test_without_contract_roots_hash_data_changes_nothing(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    async with running_platform(make_settings(tmp_path, id_tags=[{"id": "EMAID-OK"}])) as platform:
        answer = await authorize(platform, [hash_data(contract(pki, "EMAID-1"), pki.ca_cert)])
        assert answer == [3, "a", {"idTokenInfo": {"status": "Accepted"}}]


def test_contract_roots_that_cannot_be_read_stop_start_up_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "roots.pem").write_text("not a certificate")
    pki = Pki.create(tmp_path)
    url = "http://127.0.0.1:1/"
    cases = [
        ({"contract_roots": str(tmp_path / "roots.pem"), "ocsp_responder_url": url}, "ocpp.contract_roots: "),
        ({"contract_roots": str(tmp_path / "none.pem"), "ocsp_responder_url": url}, "ocpp.contract_roots: "),
        ({"contract_roots": str(pki.ca_path)}, "contract_roots and ocsp_responder_url go together"),
        ({"contract_roots": str(pki.ca_path), "ocsp_responder_url": "ftp://x"}, "ocpp.ocsp_responder_url"),
    ]
    for ocpp, why in cases:
        with pytest.raises(ConfigError, match=re.escape(why)):
            make_settings(tmp_path, ocpp=ocpp)


async def test_get_certificate_status_is_relayed_to_the_configured_responder(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    station_certificate = contract(pki, "CS-1")
    request = {"ocspRequestData": hash_data(station_certificate, pki.ca_cert)}
    async with (
        ocsp_responder(pki.ca_cert, pki.ca_key) as responder,
        running_platform(settings(tmp_path, pki, responder.url)) as platform,
        connected(platform, "CP-A", "2.0.1") as client,
    ):
        answer = await client.call("g", "GetCertificateStatus", request)
        assert answer[2]["status"] == "Accepted"
        relayed = ocsp.load_der_ocsp_response(base64.b64decode(answer[2]["ocspResult"]))
        assert (relayed.serial_number, relayed.certificate_status) == (
            station_certificate.serial_number,
            ocsp.OCSPCertStatus.GOOD,
        )
        bad = {"ocspRequestData": {**request["ocspRequestData"], "issuerKeyHash": "zz"}}
        assert await client.call("h", "GetCertificateStatus", bad) == [3, "h", {"status": "Failed"}]
    async with (
        running_platform(make_settings(tmp_path)) as platform,
        connected(platform, "CP-A", "2.0.1") as client,
    ):  # no responder configured
        assert await client.call("g", "GetCertificateStatus", request) == [3, "g", {"status": "Failed"}]
