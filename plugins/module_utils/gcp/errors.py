# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Google API failures as one line: the exception types and the mapping of error answers."""

from __future__ import annotations

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

# HTTP status -> canonical Google status, used when a body carries none.
_HTTP_TO_GOOGLE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

GRPC_CODES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


class GcpError(Exception):
    """A failed Google API call, rendered as one line."""

    def __init__(self, message, *, http_status=None, google_status=None, resource=None,
                 action=None, operation=None, details=None):
        super().__init__(message)
        self.message = one_line(message)
        self.http_status = http_status
        self.google_status = google_status
        self.resource = resource
        self.action = action
        self.operation = operation
        self.details = details or []
        # Set by the consistency window when it gave up waiting.
        self.consistency_note = None
        # True when a write was sent and its outcome is unknown (5xx, reset or timeout after sending).
        self.write_uncertain = False

    def __str__(self):
        parts = []
        if self.action:
            parts.append(self.action)
        if self.resource:
            parts.append(self.resource)
        head = " ".join(parts) + " failed" if parts else "Google API call failed"
        status = []
        if self.http_status is not None:
            status.append("HTTP %s" % self.http_status)
        if self.google_status:
            status.append(self.google_status)
        line = head
        if status:
            line += ": " + " ".join(status)
        if self.message:
            line += ": " + self.message
        if self.operation:
            line += " (operation %s)" % self.operation
        if self.consistency_note:
            line += " (%s)" % self.consistency_note
        return line

    @property
    def is_not_found(self):
        return self.http_status == 404

    @property
    def is_conflict(self):
        """True for a concurrent-change answer (stale etag)."""
        return (self.http_status == 409 and self.google_status in (None, "ABORTED")) or self.http_status == 412

    def as_result(self):
        return dict(
            http_status=self.http_status,
            google_status=self.google_status,
            resource=self.resource,
            operation=self.operation,
            error_details=self.details,
        )


class GcpAuthError(Exception):
    """Credentials could not be loaded or refreshed."""


class OperationTimeout(GcpError):
    pass


def one_line(text):
    if text is None:
        return ""
    return " ".join(str(text).split())


def error_from_response(response, resource=None, action=None):
    """Build a GcpError from a requests Response with a non-2xx status."""
    status = response.status_code
    google_status = None
    message = ""
    details = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        google_status = err.get("status")
        message = err.get("message") or ""
        details = err.get("details") or []
    elif isinstance(body, dict) and "error" in body:
        # OAuth-style answers (STS): {"error": "invalid_target", "error_description": ...}
        google_status = str(body.get("error"))
        message = body.get("error_description") or ""
    else:
        message = (response.text or "")[:300]
    if not google_status:
        google_status = _HTTP_TO_GOOGLE.get(status)
    return GcpError(message or response.reason or "", http_status=status, google_status=google_status,
                    resource=resource, action=action, details=details)


def fmt_seconds(value):
    """Seconds for messages: 120 rather than 120.0."""
    value = float(value)
    return str(int(value)) if value.is_integer() else str(value)


# Keys whose values are user data (attribute names, labels): never rewritten.
SNAKE_IGNORE = ("attributeMapping", "labels")


def snake(resource):
    """camelCase API resource -> snake_case result (data maps such as attributeMapping kept)."""
    if resource is None:
        return {}
    return camel_dict_to_snake_dict(resource, ignore_list=SNAKE_IGNORE)
