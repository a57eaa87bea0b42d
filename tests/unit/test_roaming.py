"""roaming/: OCPI 2.2.1 logic without I/O: the parsers of what partners send (property-based: any JSON is
answered with an OcpiError naming a field, or parsed), the handshake over an in-memory PartnerApi, the
mapping of chargers to EVSEs, commands to OCPP calls, pagination; and the [ocpi] settings, the push backoff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ocpi.pushes import backoff_s
from gateway.settings import ConfigError, load_settings
from roaming.commands import command_result, ocpp_call, parse_command
from roaming.credentials import PENDING, REGISTERED, check_transition, parse_credentials, register
from roaming.envelope import OcpiError, PartnerError, envelope, parse_envelope
from roaming.locations import ChargerFacts, evse_object
from roaming.paging import Page, link_next, next_offset, parse_page, window
from roaming.sessions import tariff_object
from roaming.tokens import parse_authorization, parse_token, patch_token
from roaming.versions import choose_version, parse_endpoints

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TOKEN = {
    "country_code": "DE",
    "party_id": "EMS",
    "uid": "CARD-1",
    "type": "RFID",
    "contract_id": "DE-EMS-1",
    "issuer": "E",
    "valid": True,
    "whitelist": "ALLOWED",
    "last_updated": "2026-12-01T10:00:00Z",
}
CREDENTIALS = {
    "token": "tok-b",
    "url": "http://127.0.0.1:9/ocpi/versions",
    "roles": [{"role": "EMSP", "country_code": "DE", "party_id": "EMS", "business_details": {"name": "E"}}],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


# values partners send that are valid somewhere, so that mutations also make objects that parse
near_valid: st.SearchStrategy[Any] = st.sampled_from(
    [
        "DE",
        "EMS",
        "RFID",
        "APP_USER",
        "NEVER",
        "ALWAYS",
        "2026-12-01T10:00:00",
        "x" * 37,
        True,
        False,
        "",
        " ",
        "http://127.0.0.1/x",
        [],
        None,
    ]
)
relaxed = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some fields replaced by any JSON or a near-valid value, or removed."""
    values = json_values | near_valid | st.just("__drop__")
    return st.dictionaries(st.sampled_from(sorted(base)), values, max_size=3).map(
        lambda changes: {k: v for k, v in {**base, **changes}.items() if v != "__drop__"}
    )


def outcome(parse: Any, data: Any) -> Any:
    """What a parser makes of `data`: its result, or the OcpiError it refused it with."""
    try:
        return parse(data)
    except OcpiError as exc:
        return exc


@relaxed
@given(mutated(TOKEN))
def test_a_token_from_a_partner_parses_or_is_refused_naming_its_field(data: dict[str, Any]) -> None:
    token = outcome(parse_token, data)
    if isinstance(token, OcpiError):
        assert token.status_code == 2001
        assert token.message.split(":")[0] in TOKEN or token.message.startswith("token")
        return
    assert token.as_dict()["uid"] == data["uid"]
    assert parse_token(token.as_dict()) == token  # what we store reads back the same


@relaxed
@given(json_values)
def test_any_json_as_credentials_token_or_command_is_parsed_or_refused_cleanly(data: Any) -> None:
    for parse in (parse_credentials, parse_token, lambda d: parse_command("START_SESSION", d), parse_authorization):
        result = outcome(parse, data)
        assert not isinstance(result, OcpiError) or result.status_code == 2001


@relaxed
@given(mutated(CREDENTIALS))
def test_credentials_parse_or_name_the_field(data: dict[str, Any]) -> None:
    parsed = outcome(parse_credentials, data)
    if isinstance(parsed, OcpiError):
        assert parsed.message.split(".")[0].split(":")[0] in ("token", "url", "roles", "credentials")
        return
    assert parsed.token == data["token"]


@relaxed
@given(st.dictionaries(st.sampled_from(["offset", "limit", "date_from", "date_to"]), st.text(max_size=30)))
def test_paging_query_parses_or_is_refused(query: dict[str, str]) -> None:
    page = outcome(parse_page, query)
    if isinstance(page, OcpiError):
        assert page.status_code == 2001
        return
    assert 1 <= page.limit <= 100
    assert page.offset >= 0


@relaxed
@given(json_values)
def test_a_partners_envelope_is_read_or_refused(body: Any) -> None:
    try:
        parsed = parse_envelope(body)
    except PartnerError:
        return
    assert 1000 <= parsed.status_code <= 4999


def test_envelope_and_paging() -> None:
    assert envelope([1], NOW) == {
        "status_code": 1000,
        "timestamp": "2026-12-02T12:00:00Z",
        "data": [1],
        "status_message": "Success",
    }
    items = [{"id": str(i), "last_updated": f"2026-12-0{i}T00:00:00Z"} for i in range(1, 6)]
    page = parse_page({"offset": "1", "limit": "2", "date_from": "2026-12-02T00:00:00Z"})
    shown, total = window(items, page)
    assert ([i["id"] for i in shown], total) == (["3", "4"], 4)
    assert next_offset(page, total) == 3
    assert next_offset(Page(2, 2), 4) is None
    assert parse_page({"limit": "5000"}).limit == 100  # lowered to the server's
    assert link_next('<http://x/a?offset=2>; rel="next"') == "http://x/a?offset=2"
    assert link_next('<http://x/a>; rel="prev"') is None


class FakePartner:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    async def get(self, url: str, token: str) -> Any:
        self.calls.append((url, token))
        if url not in self.answers:
            raise PartnerError(f"{url}: HTTP 404")
        return self.answers[url]


async def test_the_handshake_reads_the_partners_versions_with_its_token_b() -> None:
    versions = "http://127.0.0.1:9/ocpi/versions"
    details = {
        "version": "2.2.1",
        "endpoints": [
            {"identifier": "credentials", "role": "RECEIVER", "url": "http://127.0.0.1:9/c"},
            {"identifier": "sessions", "role": "RECEIVER", "url": "http://127.0.0.1:9/s/"},
        ],
    }
    partner = FakePartner(
        {
            versions: [
                {"version": "2.1.1", "url": "http://127.0.0.1:9/211"},
                {"version": "2.2.1", "url": "http://127.0.0.1:9/221"},
            ],
            "http://127.0.0.1:9/221": details,
        }
    )
    registration = await register(parse_credentials(CREDENTIALS), partner)
    assert partner.calls == [(versions, "tok-b"), ("http://127.0.0.1:9/221", "tok-b")]
    assert registration.endpoints == {
        "credentials/RECEIVER": "http://127.0.0.1:9/c",
        "sessions/RECEIVER": "http://127.0.0.1:9/s",
    }
    with pytest.raises(OcpiError) as unusable:
        await register(parse_credentials(CREDENTIALS), FakePartner({}))
    assert unusable.value.status_code == 3001
    with pytest.raises(OcpiError) as old:
        choose_version([{"version": "2.1.1", "url": "http://x"}])
    assert old.value.status_code == 3002
    with pytest.raises(OcpiError) as no_credentials:
        parse_endpoints({"version": "2.2.1", "endpoints": []})
    assert no_credentials.value.status_code == 3003


def test_credentials_calls_allowed_by_state() -> None:
    check_transition("POST", PENDING, True)
    for method in ("GET", "PUT", "DELETE"):
        check_transition(method, REGISTERED, False)
    for method, state, with_a in (("POST", REGISTERED, False), ("PUT", PENDING, True), ("GET", PENDING, True)):
        with pytest.raises(OcpiError) as refused:
            check_transition(method, state, with_a)
        assert refused.value.http_status == 405


def test_a_charger_is_an_evse_with_its_best_connector_status() -> None:
    charger = ChargerFacts("CP-1", "site", True, {0: "Available", 1: "Charging", 2: "Available"}, 1, 32.0, NOW)
    evse = evse_object(charger, ["t1"])
    assert (evse["uid"], evse["status"]) == ("CP-1", "AVAILABLE")
    assert [c["id"] for c in evse["connectors"]] == ["1", "2"]  # 1.6 connector 0 is the charger itself
    assert evse["connectors"][0]["power_type"] == "AC_1_PHASE"
    assert evse["connectors"][0]["tariff_ids"] == ["t1"]
    busy = ChargerFacts("CP-1", "site", True, {1: "SuspendedEV"}, 3, 16.0, NOW)
    assert evse_object(busy, [])["status"] == "CHARGING"
    offline = ChargerFacts("CP-1", "site", False, {1: "Available"}, 3, 16.0, NOW)
    assert evse_object(offline, [])["status"] == "UNKNOWN"


def test_commands_map_onto_ocpp_16_and_201() -> None:
    start = parse_command(
        "START_SESSION",
        {
            "response_url": "http://127.0.0.1/r",
            "token": TOKEN,
            "location_id": "site",
            "evse_uid": "CP-1",
            "connector_id": "2",
        },
    )
    assert ocpp_call(start, "1.6") == ("RemoteStartTransaction", {"connectorId": 2, "idTag": "CARD-1"})
    action, payload = ocpp_call(start, "2.0.1", remote_start_id=7)
    assert (action, payload["evseId"], payload["idToken"], payload["remoteStartId"]) == (
        "RequestStartTransaction",
        2,
        {"idToken": "CARD-1", "type": "ISO14443"},
        7,
    )
    stop = parse_command("STOP_SESSION", {"response_url": "http://127.0.0.1/r", "session_id": "12"})
    assert ocpp_call(stop, "1.6", transaction_id=12) == ("RemoteStopTransaction", {"transactionId": 12})
    assert ocpp_call(stop, "2.0.1", transaction_id="tx-a") == ("RequestStopTransaction", {"transactionId": "tx-a"})
    unlock = parse_command(
        "UNLOCK_CONNECTOR",
        {"response_url": "http://127.0.0.1/r", "location_id": "site", "evse_uid": "CP-1", "connector_id": "1"},
    )
    assert ocpp_call(unlock, "2.0.1") == ("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert command_result("UnlockConnector", {"status": "UnlockFailed"}) == "FAILED"
    assert command_result("ReserveNow", {"status": "Occupied"}) == "EVSE_OCCUPIED"
    assert command_result("RemoteStartTransaction", {"status": "Rejected"}) == "REJECTED"
    with pytest.raises(OcpiError) as missing:
        parse_command("START_SESSION", {"response_url": "http://127.0.0.1/r", "token": TOKEN, "location_id": "s"})
    assert "evse_uid" in missing.value.message
    with pytest.raises(OcpiError):
        parse_command("RESERVE_NOW", {"response_url": "ftp://x", "token": TOKEN})


def test_tokens_patch_and_what_a_charger_is_told() -> None:
    token = parse_token(TOKEN)
    assert token.id_tag_status == "Accepted"
    blocked = patch_token(token, {"valid": False, "last_updated": "2026-12-02T10:00:00Z"})
    assert (blocked.valid, blocked.id_tag_status) == (False, "Blocked")
    assert parse_token({**TOKEN, "whitelist": "NEVER"}).id_tag_status == "Invalid"  # real-time only
    with pytest.raises(OcpiError):
        patch_token(token, {"valid": False})  # last_updated is required
    with pytest.raises(OcpiError):
        patch_token(token, {"uid": "OTHER", "last_updated": "2026-12-02T10:00:00Z"})
    info = parse_authorization({"allowed": "EXPIRED", "token": TOKEN})
    assert info.id_tag_status == "Expired"


def test_tariffs_are_shown_without_the_green_price_extension() -> None:
    tariff = {
        "id": "t",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "green_price": 0.1, "step_size": 1}]}],
    }
    shown = tariff_object(tariff, ("NL", "CGR"), "2026-12-01T00:00:00Z")
    assert shown["elements"][0]["price_components"][0] == {"type": "ENERGY", "price": 0.3, "step_size": 1}
    assert (shown["country_code"], shown["party_id"], shown["last_updated"]) == ("NL", "CGR", "2026-12-01T00:00:00Z")


@pytest.mark.parametrize(
    ("ocpi", "field"),
    [
        ({"public_url": "ftp://x"}, "ocpi.public_url"),
        ({"push_retry_initial_s": 10, "push_retry_max_s": 1}, "push_retry_max_s"),
        (
            {"places": [{"site_id": "s", "address": "a", "city": "c", "country": "NL", "latitude": 1, "longitude": 1}]},
            "ocpi.places.0.country",
        ),
        (
            {
                "places": [
                    {"site_id": "s", "address": "a", "city": "c", "country": "NLD", "latitude": 91, "longitude": 1}
                ]
            },
            "ocpi.places.0.latitude",
        ),
    ],
)
def test_invalid_ocpi_settings_name_the_field(ocpi: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(ocpi=ocpi)
    assert field in str(refused.value)


def test_push_backoff_doubles_up_to_its_bound() -> None:
    settings = load_settings(ocpi={"push_retry_initial_s": 1, "push_retry_max_s": 5}).ocpi
    assert [backoff_s(n, settings) for n in range(1, 6)] == [1, 2, 4, 5, 5]
