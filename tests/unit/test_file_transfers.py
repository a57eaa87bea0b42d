"""File URL tokens (gateway.file_tokens) and the firmware and log requests (chargepoints.file_transfers):
pure, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoints.file_transfers import FileRequestError, answer_status, get_log, update_firmware
from chargepoints.transaction_status import AWAITING, ENDED, ONGOING, UNKNOWN, transaction_state
from chargepoints.validation import validator
from gateway.file_tokens import MAX_TOKEN, TokenRefused, sign, verify

SECRET = b"an installation secret of enough length 0123456789"
NOW = 1_800_000_000
charger_ids = st.text(st.sampled_from("ABCxyz0189*-_=+|@."), min_size=1, max_size=48)
transfer_ids = st.integers(1, 2**31 - 1)


@settings(max_examples=300, deadline=None)
@given(charger_ids, transfer_ids, st.integers(NOW + 1, NOW + 10**8), st.sampled_from(["firmware", "upload"]))
def test_a_token_grants_its_purpose_charger_and_transfer_until_it_expires(
    charger: str, transfer: int, expires: int, purpose: str
) -> None:
    token = sign(SECRET, purpose, charger, transfer, expires)
    assert len(token) <= MAX_TOKEN
    grant = verify(SECRET, token, purpose, charger, NOW)
    assert (grant.charge_point_id, grant.transfer_id, grant.expires_s, grant.purpose) == (
        charger, transfer, expires, purpose)  # fmt: skip
    other = "upload" if purpose == "firmware" else "firmware"
    for refused in (
        lambda: verify(SECRET, token, purpose, charger, expires),  # expired
        lambda: verify(SECRET, token, purpose, charger + "X", NOW),  # another charger's URL
        lambda: verify(SECRET, token, other, charger, NOW),  # another purpose
        lambda: verify(b"another installation's secret 0123456789", token, purpose, charger, NOW),
        lambda: verify(SECRET, token.replace(f"{transfer}.", f"{transfer + 1}.", 1), purpose, charger, NOW),
        lambda: verify(SECRET, token.replace(f".{expires}.", f".{expires + 1}.", 1), purpose, charger, NOW),
    ):
        with pytest.raises(TokenRefused):
            refused()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200), charger_ids)
def test_any_text_as_a_token_is_refused_with_token_refused_only(text: str, charger: str) -> None:
    with pytest.raises(TokenRefused):
        verify(SECRET, text, "firmware", charger, NOW)


@settings(max_examples=300, deadline=None)
@given(charger_ids, transfer_ids, st.integers(0, 120), st.characters())
def test_one_character_changed_is_refused(charger: str, transfer: int, where: int, char: str) -> None:
    token = sign(SECRET, "upload", charger, transfer, NOW + 3600)
    where %= len(token)
    changed = token[:where] + char + token[where + 1 :]
    if changed == token:
        return
    with pytest.raises(TokenRefused):
        verify(SECRET, changed, "upload", charger, NOW)


RETRIEVE = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8080/files/chargers/CP-A/firmware/1.2.x/fw.bin"


@pytest.mark.parametrize(
    ("version", "signed", "action"),
    [("1.6", False, "UpdateFirmware"), ("1.6", True, "SignedUpdateFirmware"), ("2.0.1", False, "UpdateFirmware"),
     ("2.0.1", True, "UpdateFirmware"), ("2.1", False, "UpdateFirmware")],
)  # fmt: skip
def test_firmware_requests_follow_each_versions_schema(version: str, signed: bool, action: str) -> None:
    sent, payload = update_firmware(
        version, URL, RETRIEVE, request_id=7, signed=signed, signing_certificate="CERT", signature="SIG", retries=2
    )
    assert sent == action
    validator(version, action)(payload)  # raises when the payload breaks the schema
    if version == "1.6" and not signed:
        assert payload == {"location": URL, "retrieveDate": "2026-12-02T06:00:00Z", "retries": 2}
    else:
        assert payload["requestId"] == 7
        assert payload["firmware"]["location"] == URL
        assert payload["firmware"]["signature"] == "SIG"


def test_a_signed_update_needs_the_images_certificate_and_signature() -> None:
    with pytest.raises(FileRequestError):
        update_firmware("1.6", URL, RETRIEVE, request_id=1, signed=True)
    assert "signature" not in update_firmware("2.0.1", URL, RETRIEVE, request_id=1)[1]["firmware"]


@pytest.mark.parametrize(
    ("version", "log_type", "action"),
    [("1.6", None, "GetDiagnostics"), ("1.6", "SecurityLog", "GetLog"), ("2.0.1", None, "GetLog"),
     ("2.0.1", "SecurityLog", "GetLog"), ("2.1", None, "GetLog")],
)  # fmt: skip
def test_log_requests_follow_each_versions_schema(version: str, log_type: str | None, action: str) -> None:
    sent, payload = get_log(version, URL, request_id=9, log_type=log_type, oldest_ts=RETRIEVE, retry_interval_s=30)
    assert sent == action
    validator(version, action)(payload)
    if action == "GetDiagnostics":
        assert payload == {"location": URL, "startTime": "2026-12-02T06:00:00Z", "retryInterval": 30}
    else:
        assert payload["log"]["remoteLocation"] == URL
        assert payload["logType"] == (log_type or "DiagnosticsLog")
        assert payload["requestId"] == 9
    with pytest.raises(FileRequestError):
        get_log(version, URL, request_id=9, log_type="NotALog")


def test_answers() -> None:
    assert answer_status("UpdateFirmware", {}) == ("Accepted", None)
    assert answer_status("UpdateFirmware", {"status": "Rejected"}) == ("Rejected", None)
    assert answer_status("GetDiagnostics", {"fileName": "d.zip"}) == ("Accepted", "d.zip")
    assert answer_status("GetDiagnostics", {}) == ("NoFile", None)
    assert answer_status("GetLog", {"status": "Accepted", "filename": "x.log"}) == ("Accepted", "x.log")


def test_what_a_transaction_status_answer_means() -> None:
    assert transaction_state(True, True) == ONGOING
    assert transaction_state(False, True) == AWAITING
    assert transaction_state(False, False) == ENDED
    assert transaction_state(None, False) == UNKNOWN


@pytest.mark.parametrize(
    ("files", "field"),
    [({"public_url": "ftp://10.0.0.5"}, "files.public_url"), ({"secret": "short"}, "files.secret"),
     ({"upload_ttl_s": 0}, "files.upload_ttl_s"), ({"shelf": "x"}, "files.shelf")],
)  # fmt: skip
def test_invalid_file_settings_stop_start_up_naming_the_field(files: dict[str, object], field: str) -> None:
    from gateway.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings(files=files)


def test_file_settings_defaults() -> None:
    from pathlib import Path

    from gateway.settings import load_settings

    settings = load_settings(files={"public_url": "https://cs.example.org:8443/coopgrid/"})
    assert settings.files.public_url == "https://cs.example.org:8443/coopgrid"
    assert settings.files.path("sqlite+aiosqlite:////var/lib/coopgrid/coopgrid.db") == Path("/var/lib/coopgrid/files")
    assert settings.files.path("postgresql+asyncpg://db/coopgrid") == Path("files")
