"""Error types answered in Google's own shapes.

Google JSON APIs answer {"error": {"code", "message", "status", "details"?}}; the STS token
endpoint answers OAuth 2.0 errors {"error", "error_description"}.
"""

from __future__ import annotations

from typing import Any

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}

DEFAULT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}


class GoogleError(Exception):
    """An error answered as {"error": {"code", "message", "status", "details"}}."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details or []

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}


class OAuthError(Exception):
    """An STS (RFC 8693) error answered as {"error", "error_description"}."""

    def __init__(self, error: str, description: str, http_status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.http_status = http_status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def bad_request(field: str, description: str, message: str | None = None) -> GoogleError:
    """400 INVALID_ARGUMENT naming the field and the rule it broke."""
    return GoogleError(
        400,
        message or f"Invalid value for field '{field}': {description}",
        "INVALID_ARGUMENT",
        [{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": description}],
        }],
    )


def failed_precondition(message: str) -> GoogleError:
    return GoogleError(400, message, "FAILED_PRECONDITION")


def not_found(message: str) -> GoogleError:
    return GoogleError(404, message, "NOT_FOUND")


def already_exists(message: str = "Requested entity already exists") -> GoogleError:
    return GoogleError(409, message, "ALREADY_EXISTS")


def error_info(reason: str, domain: str, **metadata: str) -> dict[str, Any]:
    info: dict[str, Any] = {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason, "domain": domain}
    if metadata:
        info["metadata"] = metadata
    return info


def permission_denied(permission: str, resource: str | None = None,
                      domain: str = "iam.googleapis.com") -> GoogleError:
    where = f"resource '{resource}'" if resource else "resource"
    return GoogleError(
        403,
        f"Permission '{permission}' denied on {where} (or it may not exist).",
        "PERMISSION_DENIED",
        [error_info("IAM_PERMISSION_DENIED", domain, permission=permission)],
    )


INVALID_CREDENTIALS = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
                       "login cookie or other valid authentication credential. See "
                       "https://developers.google.com/identity/sign-in/web/devconsole-project.")


def unauthenticated(missing: bool) -> GoogleError:
    if missing:
        msg = ("Request is missing required authentication credential. Expected OAuth 2 access "
               "token, login cookie or other valid authentication credential. See "
               "https://developers.google.com/identity/sign-in/web/devconsole-project.")
        reason = "CREDENTIALS_MISSING"
    else:
        msg = INVALID_CREDENTIALS
        reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    return GoogleError(401, msg, "UNAUTHENTICATED", [error_info(reason, "googleapis.com")])


def access_token_expired(service: str, method: str) -> GoogleError:
    """A token past its expiry, as Google answers it (reason ACCESS_TOKEN_EXPIRED, naming the
    service and the RPC method called)."""
    return GoogleError(401, INVALID_CREDENTIALS, "UNAUTHENTICATED",
                       [error_info("ACCESS_TOKEN_EXPIRED", "googleapis.com", method=method, service=service)])


def service_disabled(service: str, title: str, project_number: str) -> GoogleError:
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
    message = (f"{title} has not been used in project {project_number} before or it is disabled. "
               f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a "
               "few minutes for the action to propagate to our systems and retry.")
    return GoogleError(
        403, message, "PERMISSION_DENIED",
        [error_info("SERVICE_DISABLED", "googleapis.com", service=service,
                    consumer=f"projects/{project_number}", activationUrl=url, serviceTitle=title,
                    containerInfo=project_number),
         {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
         {"@type": "type.googleapis.com/google.rpc.Help",
          "links": [{"description": "Google developers console API activation", "url": url}]}],
    )
