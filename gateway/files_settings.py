"""The [files] settings: firmware images CoopGrid serves, diagnostics and logs it receives, and how signed
images are checked at upload."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, field_validator

from chargepoints.firmware_signatures import load_signing_roots
from gateway.settings_base import Model as _Model


class FilesSettings(_Model):
    """Firmware images CoopGrid serves and diagnostics and logs chargers upload to it, over its own HTTP."""

    directory: Path | None = Field(
        None,
        description="where firmware images and uploaded diagnostics and logs are kept (shared storage when "
        "several instances serve); default: `files` beside a SQLite database file, else `./files`",
    )
    public_url: str | None = Field(
        None,
        description="the base URL chargers reach this server at (e.g. http://10.0.0.5:8080); the file URLs "
        "sent in UpdateFirmware, GetDiagnostics and GetLog start with it; default: the HTTP server's address",
    )
    secret: str | None = Field(
        None,
        min_length=32,
        description="the installation secret file URLs are signed with (HMAC-SHA256), the same on every "
        "instance; default: one generated once and kept in the directory",
    )
    download_ttl_s: int = Field(86400, gt=0, description="how long a firmware URL stays valid after the retrieve time")
    upload_ttl_s: int = Field(3600, gt=0, description="how long a diagnostics or log upload URL stays valid")
    max_upload_bytes: int = Field(100_000_000, gt=0, description="the largest firmware image or upload taken")
    verify_firmware_signatures: bool = Field(
        True,
        description="an image uploaded with a signing certificate and signature is refused (422) unless the "
        "signature verifies over the image with the certificate's key (RSA-PSS, PKCS#1 v1.5, ECDSA; SHA-256) "
        "and the certificate is valid; off for ECSchnorr-signed images, which cannot be verified here",
    )
    firmware_signing_roots: Path | None = Field(
        None,
        description="PEM file of the CA certificates firmware signing certificates must be issued under "
        "(the manufacturers' firmware signing roots); none = any valid certificate",
    )

    @field_validator("firmware_signing_roots")
    @classmethod
    def _signing_roots(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                load_signing_roots(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: not a PEM file of CA certificates ({exc})") from None
        return path

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError("expected http(s)://HOST[:PORT][/PATH]")
        return value.rstrip("/")

    def path(self, database_url: str) -> Path:
        if self.directory is not None:
            return self.directory
        if database_url.startswith("sqlite") and ":///" in database_url and ":memory:" not in database_url:
            return Path(database_url.split(":///", 1)[1]).parent / "files"
        return Path("files")
