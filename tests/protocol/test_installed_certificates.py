"""A station's installed certificates from REST, in exact frames: listed (1.6 one type per call, 2.0.1 all
at once), deleted by the hash data the listing gave, installed; the last listing stored and shown while
the station is away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_security_upgrade import BOOTS, Station

HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1" * 16, "issuerKeyHash": "b2" * 16, "serialNumber": "0F3A"}
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
ANSWERS = {
    "ocpp1.6": {"GetInstalledCertificateIds": {"status": "Accepted", "certificateHashData": [HASH]}},
    "ocpp2.0.1": {
        "GetInstalledCertificateIds": {
            "status": "Accepted",
            "certificateHashDataChain": [{"certificateType": "CSMSRootCertificate", "certificateHashData": HASH}],
        }
    },
}


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_list_delete_install_and_the_stored_listing(tmp_path: Path, subprotocol: str) -> None:
    settings = make_settings(tmp_path, chargers=[{"id": "CP-C", "site_id": "site-a"}])
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        base = f"{platform.http_url}/api/chargepoints/CP-C/certificates"

        async def rest(method: str, url: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(method, url, json=body) as response:
                return response.status, await response.json()

        ws = await http.ws_connect(f"{platform.ocpp_url}/CP-C", protocols=(subprotocol,))
        action, payload = BOOTS[subprotocol]
        await ws.send_str(json.dumps([2, "boot", action, payload]))
        station = Station(ws, ANSWERS[subprotocol])
        await asyncio.sleep(0.3)

        status, listing = await rest("GET", base)
        assert status == 200, listing
        assert listing["source"] == "charger"
        if subprotocol == "ocpp1.6":  # one type per call
            assert station.sent("GetInstalledCertificateIds") == [
                {"certificateType": "CentralSystemRootCertificate"},
                {"certificateType": "ManufacturerRootCertificate"},
            ]
            assert len(listing["certificates"]) == 2  # the double lists the same one for each type
        else:
            assert station.sent("GetInstalledCertificateIds") == [{}]
            (certificate,) = listing["certificates"]
            assert certificate["certificate_type"] == "CSMSRootCertificate"
        assert listing["certificates"][0]["serial_number"] == "0F3A"
        assert listing["certificates"][0]["issuer_key_hash"] == "b2" * 16

        status, deleted = await rest("DELETE", f"{base}/0f3a")
        assert (status, deleted) == (200, {"serial_number": "0F3A", "status": "Accepted"})
        assert station.sent("DeleteCertificate") == [{"certificateHashData": HASH}]
        assert (await rest("DELETE", f"{base}/FFFF"))[0] == 404  # not in the last listing

        installable = "CentralSystemRootCertificate" if subprotocol == "ocpp1.6" else "CSMSRootCertificate"
        status, result = await rest("POST", base, {"certificate_type": installable, "certificate": PEM})
        assert (status, result["status"]) == (200, "Accepted")
        assert station.sent("InstallCertificate") == [{"certificateType": installable, "certificate": PEM}]
        assert (await rest("POST", base, {"certificate_type": "V2GCertificateChain", "certificate": PEM}))[0] == 422
        assert (await rest("POST", base, {"certificate_type": installable, "certificate": "not PEM"}))[0] == 422
        assert (await rest("GET", f"{base}?type=NoSuchType"))[0] == 422

        await station.close()
        for _ in range(50):
            if not platform.central.is_connected("CP-C"):
                break
            await asyncio.sleep(0.05)
        status, stored = await rest("GET", base)  # away: the last listing, as stored
        assert (status, stored["source"]) == (200, "stored")
        assert stored["certificates"] == listing["certificates"]
        status, events = await rest("GET", f"{platform.http_url}/api/chargepoints/CP-C/events")
        kinds = {e["kind"] for e in events}
        assert {"InstalledCertificates", "DeleteCertificate", "InstallCertificate"} <= kinds
        assert (await rest("GET", f"{platform.http_url}/api/chargepoints/CP-NONE/certificates"))[0] == 404
