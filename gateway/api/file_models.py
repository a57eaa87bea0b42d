"""REST bodies and views of firmware images and file transfers (gateway.api.files)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.api_models import _Body


class FirmwareView(BaseModel):
    id: int
    name: str = Field(description="the image's file name, as the URL sent to chargers ends")
    version: str | None
    sha256: str = Field(description="SHA-256 of the image, hex")
    size_bytes: int
    created: datetime
    signed: bool = Field(description="uploaded with a signing certificate and signature (signed updates)")


class FirmwareUpdateBody(_Body):
    firmware_id: int = Field(ge=1, le=2**31 - 1, description="an uploaded image (POST /api/firmware)")
    retrieve_date: datetime | None = Field(None, description="when the charger may fetch it; default: now")
    install_date: datetime | None = Field(None, description="2.0.1 and signed 1.6: when to install")
    signed: bool = Field(False, description="1.6: SignedUpdateFirmware (security extension); the image's "
                         "certificate and signature are sent with every 2.0.1 update anyway")  # fmt: skip
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval_s: int | None = Field(None, ge=0, le=86400)


class LogRequestBody(_Body):
    log_type: Literal["DiagnosticsLog", "SecurityLog"] | None = Field(
        None, description="1.6: none = GetDiagnostics, a type = the security extension's GetLog; 2.0.1: GetLog "
        "(DiagnosticsLog by default)"
    )  # fmt: skip
    oldest: datetime | None = Field(None, description="the oldest entries wanted")
    latest: datetime | None = Field(None, description="the newest entries wanted")
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval_s: int | None = Field(None, ge=0, le=86400)


class FileStepView(BaseModel):
    ts: datetime
    action: str = Field(description="the notification: FirmwareStatusNotification, LogStatusNotification, ...")
    status: str
    request_id: int | None


class FileTransferView(BaseModel):
    id: int = Field(description="the OCPP requestId")
    kind: Literal["firmware", "diagnostics"]
    action: str = Field(description="UpdateFirmware, SignedUpdateFirmware, GetDiagnostics or GetLog")
    firmware_id: int | None
    requested: datetime
    url_expires: datetime = Field(description="the signed URL given to the charger is refused afterwards")
    answer: str | None = Field(description="the charger's answer (1.6 GetDiagnostics without a file: NoFile)")
    status: str | None = Field(description="the last status the charger reported for it")
    finished: bool
    filename: str | None
    size_bytes: int | None = Field(description="an upload, once received")
    sha256: str | None
    received: datetime | None
    downloads: int = Field(description="firmware: how often the charger fetched the image")
    steps: list[FileStepView]
    file_url: str | None = Field(None, description="diagnostics: where the received file is downloaded")


class FileTimelineView(BaseModel):
    charge_point_id: str
    firmware_version: str | None = Field(None, description="as the charger last said at boot")
    transfers: list[FileTransferView] = Field(description="newest first")
    timeline: list[FileStepView] = Field(description="every status notification, oldest first")
