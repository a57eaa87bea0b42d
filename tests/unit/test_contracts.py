"""Plug & Charge contract certificates (chargepoints.contracts): hash data, issuers, OCSP answers judged."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from chargepoints.contracts import (
    ContractRoots,
    HashData,
    issuer_hashes,
    ocsp_request,
    ocsp_verdict,
    parse_hash_data,
)
from chargepoints.contracts import hash_data_of as pem_hash_data
from tests.fixtures.certs import Pki
from tests.fixtures.ocsp import Responder


def hash_data_of(certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256") -> dict[str, Any]:
    name_hash, key_hash = issuer_hashes(issuer, algorithm)
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": name_hash.hex(),
        "issuerKeyHash": key_hash.hex(),
        "serialNumber": format(certificate.serial_number, "x"),
        "responderURL": "http://127.0.0.1:9/",
    }


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path)


def contract(pki: Pki, name: str = "EMAID-1") -> x509.Certificate:
    cert_path, _ = pki.issue(name)
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_issuer_hashes_are_those_of_rfc_6960(pki: Pki, algorithm: str) -> None:
    leaf = contract(pki)
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, pki.ca_cert, getattr(hashes, algorithm)()).build()
    assert issuer_hashes(pki.ca_cert, algorithm) == (request.issuer_name_hash, request.issuer_key_hash)
    data = parse_hash_data(hash_data_of(leaf, pki.ca_cert, algorithm))
    assert ocsp.load_der_ocsp_request(ocsp_request(data)).serial_number == leaf.serial_number
    assert ContractRoots([pki.ca_cert]).issuer_of(data) == pki.ca_cert


def test_an_rsa_issuer_is_found_too() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA contract CA")])
    now = datetime.now(UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    request = ocsp.OCSPRequestBuilder().add_certificate(ca, ca, hashes.SHA256()).build()
    assert issuer_hashes(ca, "SHA256")[1] == request.issuer_key_hash


def test_a_certificate_of_another_ca_has_no_issuer_here(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = Pki.create(tmp_path / "other")
    data = parse_hash_data(hash_data_of(contract(other), other.ca_cert))
    assert ContractRoots([pki.ca_cert]).issuer_of(data) is None
    assert ContractRoots.from_pem(pki.ca_path.read_bytes() + other.ca_path.read_bytes()).issuer_of(data) is not None
    with pytest.raises(ValueError, match="no certificate"):
        ContractRoots([])


def verdict(pki: Pki, responder: Responder, leaf: x509.Certificate, now: datetime | None = None) -> str:
    data = parse_hash_data(hash_data_of(leaf, pki.ca_cert))
    answer = responder.answer(ocsp_request(data))
    return ocsp_verdict(answer, data, pki.ca_cert, now or datetime.now(UTC))


def test_good_revoked_badly_signed_and_stale_answers(pki: Pki) -> None:
    leaf = contract(pki)
    responder = Responder(pki.ca_cert, pki.ca_key)
    assert verdict(pki, responder, leaf) == "Accepted"
    assert verdict(pki, responder, leaf, datetime.now(UTC) + timedelta(hours=3)) == "NoCertificateAvailable"
    responder.revoked.add(leaf.serial_number)
    assert verdict(pki, responder, leaf) == "CertificateRevoked"
    responder.signer = ec.generate_private_key(ec.SECP256R1())
    assert verdict(pki, responder, leaf) == "SignatureError"


def test_answers_that_say_nothing_of_the_certificate(pki: Pki) -> None:
    leaf, other = contract(pki, "A"), contract(pki, "B")
    data = parse_hash_data(hash_data_of(leaf, pki.ca_cert))
    about_other = Responder(pki.ca_cert, pki.ca_key).answer(
        ocsp_request(parse_hash_data(hash_data_of(other, pki.ca_cert)))
    )
    now = datetime.now(UTC)
    assert ocsp_verdict(about_other, data, pki.ca_cert, now) == "NoCertificateAvailable"
    unsuccessful = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    assert ocsp_verdict(unsuccessful.public_bytes(serialization.Encoding.DER), data, pki.ca_cert, now) == (
        "NoCertificateAvailable"
    )
    assert ocsp_verdict(b"not DER", data, pki.ca_cert, now) == "NoCertificateAvailable"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"hashAlgorithm": "MD5"}, "hashAlgorithm 'MD5' is not SHA256, SHA384 or SHA512"),
        ({"issuerNameHash": "zz"}, "issuerNameHash is not hexadecimal"),
        ({"issuerKeyHash": "ab" * 20}, "issuerKeyHash is not a 256-bit hash"),
        ({"serialNumber": "0"}, "serialNumber is not a positive number of at most 20 bytes"),
        ({"serialNumber": "f" * 41}, "serialNumber is not a positive number of at most 20 bytes"),
        ({"serialNumber": "x1"}, "serialNumber is not hexadecimal"),
        ({"serialNumber": ""}, "serialNumber is missing"),
    ],
)
def test_hash_data_that_cannot_be_used_says_why(change: dict[str, Any], why: str) -> None:
    item = {"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 32, "issuerKeyHash": "11" * 32, "serialNumber": "1f"}
    with pytest.raises(ValueError, match="^" + why.replace("(", r"\(") + "$"):
        parse_hash_data({**item, **change})


@given(
    st.dictionaries(
        st.sampled_from(["hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber", "responderURL"]),
        st.none() | st.integers() | st.text(max_size=140) | st.sampled_from(["SHA256", "SHA384", "SHA512"])
        | st.binary(min_size=32, max_size=64).map(bytes.hex),
    )
)  # fmt: skip
def test_any_hash_data_parses_or_is_refused_with_a_value_error(item: dict[str, Any]) -> None:
    try:
        data = parse_hash_data(item)
    except ValueError as refused:
        why = str(refused)
    else:
        why = ""
        assert isinstance(data, HashData)
        assert len(data.issuer_name_hash) == len(data.issuer_key_hash) >= 32
        assert 0 < data.serial_number < 2**160
    assert why or data


_ROOTS: dict[str, ContractRoots] = {}


def _roots() -> ContractRoots:
    """One contract CA for the property below (made once: hypothesis calls the test many times)."""
    if "roots" not in _ROOTS:
        _ROOTS["roots"] = ContractRoots([Pki.create(Path(tempfile.mkdtemp())).ca_cert])
    return _ROOTS["roots"]


@given(st.text(max_size=300) | st.just("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
def test_a_pem_certificate_is_hash_data_or_a_clear_refusal(text: str) -> None:
    try:
        item = pem_hash_data(text, _roots())
    except ValueError:
        return
    assert set(item) == {"hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"}
