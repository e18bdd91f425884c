"""The one error hierarchy. Each class carries its HTTP status, the guide's `type` and a code.

Exceptions never render themselves: `api/responses.py` turns any of them into the contract's
envelope `{"error": {type, message, code, details?, retry_after?, request_id}}`.

    SandboxError                      500 server_error            INTERNAL_ERROR
    ├── ValidationFailed              400 validation_error        INVALID_PARAMETER
    │   ├── InvalidJson               400                         INVALID_JSON
    │   ├── UnknownField              400                         UNKNOWN_FIELD
    │   ├── MethodNotAllowed          405                         METHOD_NOT_ALLOWED
    │   └── RequestTooLarge           413                         REQUEST_TOO_LARGE
    ├── AuthError                     401 auth_error              INVALID_API_KEY
    │   ├── MissingApiKey                                         MISSING_API_KEY
    │   ├── LiveKeyInSandbox                                      LIVE_KEY_IN_SANDBOX
    │   └── KeyRevoked                                            KEY_REVOKED
    ├── PermissionDenied              403 permission_error        (code given)
    │   ├── TierFeatureUnavailable                                TIER_FEATURE_UNAVAILABLE
    │   ├── InsufficientScope                                     INSUFFICIENT_SCOPE
    │   └── InvalidSignature                                      INVALID_SIGNATURE
    ├── NotFound                      404 not_found_error         (code given)
    │   └── LinkExpired               410                         LINK_EXPIRED
    ├── Conflict                      409 conflict_error          (code given)
    ├── RateLimited                   429 rate_limit_error        RATE_LIMIT_EXCEEDED
    ├── ServiceUnavailable            503 service_unavailable_error SERVICE_UNAVAILABLE
    ├── BadGateway                    502 server_error            BAD_GATEWAY
    └── GatewayTimeout                504 server_error            GATEWAY_TIMEOUT

    ConfigError                       bad settings, fixtures or scenario files (never HTTP)
    DropConnection                    a scenario's dropped connection (never rendered)
"""

from __future__ import annotations

from collections.abc import Mapping


class DropConnection(Exception):
    """Raised after a response has started (a scenario's `drop`), so the server cuts the
    connection mid-answer. Never rendered: the client sees a connection closed early."""


class ConfigError(Exception):
    """Settings, fixtures or scenario files that cannot be used; the server does not start."""


class DataDirectoryError(ConfigError):
    """A `--data-dir` that cannot be used: held by another server, not a folder, or written
    by a newer version."""


class SandboxError(Exception):
    status = 500
    type = "server_error"
    code = "INTERNAL_ERROR"
    default_message = "Internal server error"
    summary = "Unexpected error"  # what the status means, for the OpenAPI documents

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}
        super().__init__(self.message)


class ValidationFailed(SandboxError):
    status = 400
    type = "validation_error"
    code = "INVALID_PARAMETER"
    default_message = "Invalid input"
    summary = "Invalid request"


class InvalidJson(ValidationFailed):
    code = "INVALID_JSON"
    default_message = "Request body must be a JSON object"


class UnknownField(ValidationFailed):
    code = "UNKNOWN_FIELD"
    default_message = "Unknown field in request body"


class MethodNotAllowed(ValidationFailed):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed"
    summary = "Method not allowed"


class RequestTooLarge(ValidationFailed):
    status = 413
    code = "REQUEST_TOO_LARGE"
    default_message = "Request body is larger than 1 MiB"
    summary = "Body larger than 1 MiB"


class AuthError(SandboxError):
    status = 401
    type = "auth_error"
    code = "INVALID_API_KEY"
    default_message = "Invalid API key"
    summary = "Missing, malformed, unknown, live or revoked key"


class MissingApiKey(AuthError):
    code = "MISSING_API_KEY"
    default_message = "Missing API key: send 'Authorization: Bearer sk_test_...'"


class LiveKeyInSandbox(AuthError):
    code = "LIVE_KEY_IN_SANDBOX"
    default_message = (
        "Live keys (sk_live_) are not accepted by the sandbox; use a test key (sk_test_...)"
    )


class KeyRevoked(AuthError):
    code = "KEY_REVOKED"
    default_message = "This API key has been revoked"


class PermissionDenied(SandboxError):
    status = 403
    type = "permission_error"
    code = "PERMISSION_DENIED"
    default_message = "Insufficient permissions"
    summary = "Tier, scope or link signature refused"


class TierFeatureUnavailable(PermissionDenied):
    code = "TIER_FEATURE_UNAVAILABLE"


class InsufficientScope(PermissionDenied):
    code = "INSUFFICIENT_SCOPE"


class InvalidSignature(PermissionDenied):
    code = "INVALID_SIGNATURE"
    default_message = "The link's signature is not valid"


class NotFound(SandboxError):
    status = 404
    type = "not_found_error"
    code = "ROUTE_NOT_FOUND"
    default_message = "Not found"
    summary = "Not found"


class LinkExpired(NotFound):
    status = 410
    code = "LINK_EXPIRED"
    default_message = "The link has expired"
    summary = "The link has expired"


class Conflict(SandboxError):
    status = 409
    type = "conflict_error"
    code = "INVALID_TRANSITION"
    default_message = "Conflict with the resource's current state"
    summary = "Conflict with the resource's state"


class RateLimited(SandboxError):
    status = 429
    type = "rate_limit_error"
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Rate limit exceeded"
    summary = "Rate limited; see Retry-After"

    def __init__(self, retry_after: int, message: str | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServiceUnavailable(SandboxError):
    status = 503
    type = "service_unavailable_error"
    code = "SERVICE_UNAVAILABLE"
    default_message = "Service unavailable, retry later"
    summary = "Service unavailable"


class BadGateway(SandboxError):
    status = 502
    code = "BAD_GATEWAY"
    default_message = "Bad gateway"
    summary = "Bad gateway"


class GatewayTimeout(SandboxError):
    status = 504
    code = "GATEWAY_TIMEOUT"
    default_message = "Gateway timeout"
    summary = "Gateway timeout"


# The error a bare status stands for (a scenario's scripted answer, the OpenAPI documents):
# the first class of the hierarchy with that status.
BY_STATUS: dict[int, type[SandboxError]] = {
    cls.status: cls
    for cls in (
        ValidationFailed,
        MethodNotAllowed,
        RequestTooLarge,
        AuthError,
        PermissionDenied,
        NotFound,
        LinkExpired,
        Conflict,
        RateLimited,
        SandboxError,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}
