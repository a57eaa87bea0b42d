"""The TLS 1.2 cipher suites OCPP asks of a central system, offered with an ECDSA and an RSA certificate
configured side by side (OCPP 2.0.1 part 2, A00.FR.318/319), over real wss:// sockets."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.platform import Platform
from gateway.settings import ConfigError, load_settings
from tests.fixtures.certs import Pki, tls_http
from tests.fixtures.platform import make_settings, running_platform

REQUIRED = {  # OpenSSL's name: (IANA's name, the certificate's key type)
    "ECDHE-ECDSA-AES128-GCM-SHA256": ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", ec.EllipticCurvePublicKey),
    "ECDHE-ECDSA-AES256-GCM-SHA384": ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", ec.EllipticCurvePublicKey),
    "AES128-GCM-SHA256": ("TLS_RSA_WITH_AES_128_GCM_SHA256", rsa.RSAPublicKey),
    "AES256-GCM-SHA384": ("TLS_RSA_WITH_AES_256_GCM_SHA384", rsa.RSAPublicKey),
}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    """A platform serving an ECDSA and an RSA certificate, and the CA that signed both."""
    pki = Pki.create(tmp_path)
    rsa_cert, rsa_key = pki.issue("127.0.0.1-rsa", server=True, key_type="rsa")
    http = {**tls_http(pki), "tls_more": [{"cert": str(rsa_cert), "key": str(rsa_key)}]}
    settings = make_settings(tmp_path, http=http, chargers=[{"id": "CP-T", "site_id": "site-a"}])
    async with running_platform(settings) as running:
        yield running, pki.ca_path


def tls12_only(ca: Path, suite: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(f"{suite}:@SECLEVEL=1")
    return context


@pytest.mark.parametrize("suite", sorted(REQUIRED))
async def test_each_required_suite_is_negotiated_with_the_certificate_it_needs(
    served: tuple[Platform, Path], suite: str
) -> None:
    platform, ca = served
    context = tls12_only(ca, suite)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-T", protocols=("ocpp1.6",), ssl=context) as ws,
    ):
        tls = ws.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2"
        assert tls.cipher()[0] == suite
        certificate = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert isinstance(certificate.public_key(), REQUIRED[suite][1])
        await ws.send_str(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        answer = json.loads(await ws.receive_str(timeout=5))
        assert answer[2]["status"] == "Accepted"


async def test_forward_secrecy_is_preferred_when_the_charger_offers_it(served: tuple[Platform, Path]) -> None:
    platform, ca = served
    context = ssl.create_default_context(cafile=str(ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256")  # the charger would take either
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-T", protocols=("ocpp1.6",), ssl=context) as ws,
    ):
        assert ws.get_extra_info("ssl_object").cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"


async def test_a_suite_outside_the_list_is_refused(served: tuple[Platform, Path]) -> None:
    platform, ca = served
    context = tls12_only(ca, "AES128-SHA")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            await http.ws_connect(f"{platform.ocpp_url}/CP-T", protocols=("ocpp1.6",), ssl=context)


def test_a_second_certificate_without_the_first_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "coopgrid.toml"
    config.write_text('[http]\ntls_more = [{cert = "a.pem", key = "a.key"}]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="tls_more"):
        load_settings(config)
