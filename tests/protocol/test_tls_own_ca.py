"""A certificate CoopGrid's own CA signs (SignCertificate, then CertificateSigned with its certificateType)
opens a profile-3 connection at once, beside the configured client CA, over real wss:// sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.platform import Platform
from tests.fixtures.certs import Pki, tls_http
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_tls_profiles import client_context

BOOT = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path)


@pytest.fixture
async def platform(tmp_path: Path, pki: Pki) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http=tls_http(pki),
        ocpp={"ca_cert": str(tmp_path / "own-ca.pem"), "ca_key": str(tmp_path / "own-ca.key")},
        chargers=[{"id": "CP-P3", "site_id": "site-a", "security_profile": 3}],
    )
    async with running_platform(settings) as running:
        yield running


async def test_a_certificate_our_ca_signed_opens_profile_3_at_once(
    platform: Platform, pki: Pki, tmp_path: Path
) -> None:
    url = f"{platform.ocpp_url}/CP-P3"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP-P3")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, protocols=("ocpp2.0.1",), ssl=client_context(pki, pki.issue("CP-P3"))) as ws:
            await ws.send_str(json.dumps([2, "b", "BootNotification", BOOT]))
            while (frame := json.loads(await ws.receive_str(timeout=5)))[0] != 3:
                pass
            sign = {"csr": csr, "certificateType": "ChargingStationCertificate"}
            await ws.send_str(json.dumps([2, "s", "SignCertificate", sign]))
            signed = None
            while signed is None:
                frame = json.loads(await ws.receive_str(timeout=5))
                if frame[0] == 3:
                    assert frame[:3] == [3, "s", {"status": "Accepted"}]
                    continue
                if frame[2] == "CertificateSigned":
                    signed = frame[3]
                    await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
                elif frame[2] == "GetVariables":
                    await ws.send_str(json.dumps([3, frame[1], {"getVariableResult": []}]))
                else:
                    await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert signed["certificateType"] == "ChargingStationCertificate"
        chain, key_path = tmp_path / "signed.pem", tmp_path / "signed.key"
        chain.write_text(signed["certificateChain"])
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        async with http.ws_connect(url, protocols=("ocpp2.0.1",), ssl=client_context(pki, (chain, key_path))) as ws:
            await ws.send_str(json.dumps([2, "b2", "BootNotification", BOOT]))
            assert json.loads(await ws.receive_str(timeout=5))[2]["status"] == "Accepted"


async def test_a_v2g_certificate_is_not_ours_to_sign(platform: Platform, pki: Pki) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{platform.ocpp_url}/CP-P3"
        async with http.ws_connect(url, protocols=("ocpp2.0.1",), ssl=client_context(pki, pki.issue("CP-P3"))) as ws:
            await ws.send_str(
                json.dumps([2, "s", "SignCertificate", {"csr": "x", "certificateType": "V2GCertificate"}])
            )
            assert json.loads(await ws.receive_str(timeout=5)) == [3, "s", {"status": "Rejected"}]
