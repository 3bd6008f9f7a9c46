"""Helpers shared by the Google service modules."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from .errors import GoogleError, bad_request

SOFT_DELETE_SECONDS = 30 * 24 * 3600


def rfc3339(ts: float, fraction: bool = True) -> str:
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    if fraction:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def project_or_error(app: Any, ref: str, for_crm: bool = False) -> dict[str, Any]:
    proj = app.state.project(ref)
    if proj is None:
        if for_crm:
            raise GoogleError(403, "The caller does not have permission", "PERMISSION_DENIED")
        raise GoogleError(
            403, f"Permission denied on resource project {ref}.", "PERMISSION_DENIED",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_INVALID",
              "domain": "googleapis.com", "metadata": {"consumer": f"projects/{ref}"}}])
    return proj


def parse_mask(mask: Any, allowed: list[str], where: str = "updateMask") -> list[str]:
    """Split a FieldMask; accept camelCase and snake_case, reject unknown paths."""
    if mask is None or (isinstance(mask, str) and not mask.strip()):
        raise bad_request(where, f"{where} is required; allowed paths: {', '.join(allowed)}")
    if not isinstance(mask, str):
        raise bad_request(where, "must be a comma-separated string of field paths")
    out = []
    for raw in mask.split(","):
        path = raw.strip()
        camel = path.split("_")[0] + "".join(w.title() for w in path.split("_")[1:])
        if camel not in allowed:
            raise bad_request(where, f"Invalid update mask path '{path}'; allowed paths: "
                              f"{', '.join(allowed)}")
        if camel not in out:
            out.append(camel)
    return out


def page(items: list[Any], req: Any, default_size: int = 50, max_size: int = 1000) -> tuple[list[Any], str | None]:
    """pageSize/pageToken over a stable, sorted list."""
    size_raw = req.q("pageSize")
    try:
        size = int(size_raw) if size_raw else default_size
    except ValueError as exc:
        raise bad_request("pageSize", "must be an integer") from exc
    if size < 0:
        raise bad_request("pageSize", "must not be negative")
    size = min(size or default_size, max_size)
    token = req.q("pageToken")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("pageToken", "invalid page token") from exc
    chunk = items[start:start + size]
    nxt = None
    if start + size < len(items):
        nxt = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return chunk, nxt


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def public(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop internal keys (leading underscore) and proto3 defaults (false, empty)."""
    out = {}
    for k, v in resource.items():
        if k.startswith("_") or v is False or v is None or v in ("", {}, []):
            continue
        out[k] = v
    return out
