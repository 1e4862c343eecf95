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


class AuthError(AutoGLMError):
    """No token, or a token that is unknown, expired or revoked (HTTP 401)."""

    code = "unauthenticated"


class PermissionDeniedError(AutoGLMError):
    """A valid token whose role or sites do not allow this (HTTP 403)."""

    code = "forbidden"


class ConfirmationRequiredError(PermissionDeniedError):
    """A plan with sensitive steps (unlock, disarm, open the garage, bulk actions) run without confirmation."""

    code = "confirmation_required"

    def __init__(self, message: str, *, steps: list[str] | None = None) -> None:
        super().__init__(message)
        self.steps = list(steps or [])


class ConflictError(AutoGLMError):
    """An update made against a version that is no longer current (HTTP 409)."""

    code = "version_conflict"


class NotFoundError(AutoGLMError):
    """An edge, device, plan or token that does not exist, or that the caller may not see (HTTP 404)."""

    code = "not_found"


class PlannerError(AutoGLMError):
    """The planner could not produce a plan."""

    code = "planner_error"


class PlannerOverloadedError(PlannerError):
    """The planner's queue is full; try again later (HTTP 429)."""

    code = "planner_overloaded"


class PlannerTimeoutError(PlannerError):
    """A plan took longer than the request's deadline (HTTP 504)."""

    code = "planner_timeout"


class PlannerUnavailableError(PlannerError):
    """No planner model loaded or the remote backend is unreachable (HTTP 503)."""

    code = "planner_unavailable"


class PlanValidationError(PlannerError):
    """A plan that breaks its schema, names unknown devices or tools, has a cycle or is too big (HTTP 422)."""

    code = "invalid_plan"

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step
