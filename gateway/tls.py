"""The TLS side of the HTTP and OCPP listener: wss:// for security profiles 2 and 3."""

from __future__ import annotations

import ssl
from pathlib import Path

from gateway.settings import HttpSettings

# TLS 1.2 suites for wss:// (TLS 1.3's are OpenSSL's defaults). OCPP 2.0.1 part 2 (A00.FR.318/319, and the
# 1.6 security whitepaper alike) asks a central system for ECDHE-ECDSA with AES-GCM and for RSA with AES-GCM;
# ECDHE-RSA sits between them for RSA-certificate chargers that can do better than RSA key exchange.
OCPP_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256
        "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
    )
)


def server_context(http: HttpSettings, own_ca: Path | None) -> ssl.SSLContext | None:
    """TLS for wss:// (profile 2) and, with a client CA, client certificates (profile 3)."""
    if http.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(OCPP_TLS12_CIPHERS)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE  # forward secrecy first, RSA key exchange last
    for cert, key in [(http.tls_cert, http.tls_key), *((pair.cert, pair.key) for pair in http.tls_more)]:
        context.load_cert_chain(cert, key)  # one per key type: OpenSSL picks by the suite negotiated
    # Client certificates (profile 3): the configured client CA's, and those CoopGrid's own CA signs for
    # SignCertificate, trusted at once (the CA's file exists: build_central creates it when missing).
    client_cas = [path for path in (http.tls_client_ca, own_ca) if path is not None]
    for path in client_cas:
        context.load_verify_locations(path)
    if client_cas:
        # Optional at the TLS layer: profile 1-2 chargers share the port;
        # the OCPP endpoint demands the certificate for profile 3 chargers.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
