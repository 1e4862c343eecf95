"""The one error tree of AutoGLM Hybrid; adapters convert foreign exceptions into these once."""

from __future__ import annotations


class AutoGLMError(Exception):
    """Root of every error the project raises on purpose."""

    code = "autoglm_error"


class ContractError(AutoGLMError):
    """Input that breaks the wire contract (malformed payload, bad topic)."""

    code = "contract_error"


class PayloadError(ContractError):
    """A payload that is not valid JSON or does not match its schema; names the offending field."""

    code = "bad_payload"

    def __init__(self, message: str, *, field: str | None = None, model: str | None = None) -> None:
        self.field = field
        self.model = model
        where = f"{model}." if model else ""
        prefix = f"{where}{field}: " if field else (f"{model}: " if model else "")
        super().__init__(f"{prefix}{message}")


class PayloadTooLargeError(PayloadError):
    """A payload over the size limit; rejected before parsing."""

    code = "payload_too_large"


class TopicError(ContractError):
    """A topic that does not follow the project's or Home Assistant's topic layout."""

    code = "bad_topic"


class DeviceError(AutoGLMError):
    """A problem with a device a request refers to."""

    code = "device_error"


class UnknownDeviceError(DeviceError):
    """No device matches the name or area asked for."""

    code = "unknown_device"


class AmbiguousDeviceError(DeviceError):
    """More than one device matches and the request needs exactly one."""

    code = "ambiguous_device"


class UnsupportedActionError(DeviceError):
    """The device exists but cannot do what was asked."""

    code = "unsupported_action"


class DeviceUnavailableError(DeviceError):
    """The device reports itself offline."""

    code = "device_unavailable"


class DeviceTimeoutError(DeviceError):
    """The device did not confirm a command in time."""

    code = "device_timeout"


class DeviceRejectedError(DeviceError):
    """The device refused a command (for example a value out of range)."""

    code = "device_rejected"


class TransportError(AutoGLMError):
    """A broker or HTTP peer could not be reached or dropped the connection."""

    code = "transport_error"


class StorageError(AutoGLMError):
    """A local database could not be opened, read or written."""

    code = "storage_error"


class ModelError(AutoGLMError):
    """A model directory that is missing, corrupt, or of another format version."""

    code = "model_error"


class ConfigError(AutoGLMError):
    """Settings that cannot work (bad port, missing file)."""

    code = "config_error"
