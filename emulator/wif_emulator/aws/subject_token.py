"""Google's AWS subject token: a signed GetCallerIdentity request, as google-auth builds it."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote, urlsplit

from .errors import AwsAuthError
from .partitions import sts_host_region
from .sigv4 import CallerIdentity, _header_multimap, _one, verify_signed_request
from .sts_query import STS_VERSION

GOOGLE_TARGET_HEADER = "x-goog-cloud-target-resource"


def _subject_error(message: str) -> AwsAuthError:
    return AwsAuthError("InvalidSubjectToken", message, 400)


def _strip_https(value: str) -> str:
    return value[len("https:"):] if value.startswith("https:") else value


def _check_caller_identity_url(url: str) -> str:
    """The hostname of a GetCallerIdentity URL on a real STS endpoint, else InvalidSubjectToken."""
    parts = urlsplit(url)
    hostname = (parts.hostname or "").lower()
    if parts.scheme != "https" or sts_host_region(hostname) is None or parts.port not in (None, 443):
        raise _subject_error(
            "The subject token's url must be https://sts.{region}.amazonaws.com (https://sts.{region}.amazonaws.com.cn "
            f"in the aws-cn partition) or https://sts.amazonaws.com, got '{url}'."
        )
    if parts.path not in ("", "/"):
        raise _subject_error(f"The subject token's url must have no path, got '{parts.path}'.")
    params = sorted(tuple(item.split("=", 1)) if "=" in item else (item, "") for item in parts.query.split("&") if item)
    if params != [("Action", "GetCallerIdentity"), ("Version", STS_VERSION)]:
        raise _subject_error(
            f"The subject token's url must call Action=GetCallerIdentity&Version={STS_VERSION}, got query '{parts.query}'."
        )
    return hostname


def verify_google_subject_token(secret: str | bytes, subject_token: str, audience: str,
                                *, now: dt.datetime | None = None) -> CallerIdentity:
    """Verify an AWS subject token as google-auth builds it for the STS token exchange.

    The token is the URL-quoted JSON ``{"url", "method", "headers": [{"key", "value"}...]}`` of a
    signed ``POST https://sts.REGION.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15``
    carrying ``x-goog-cloud-target-resource`` (not signed) equal to ``audience``.
    """
    if not isinstance(subject_token, str) or not subject_token.strip():
        raise _subject_error("The subject token is empty.")
    try:
        request = json.loads(unquote(subject_token.strip()))
    except ValueError:
        raise _subject_error("The subject token is not URL-encoded JSON of a signed AWS request.") from None
    if not isinstance(request, dict):
        raise _subject_error("The subject token must be a JSON object with url, method and headers.")
    url, method, header_list = request.get("url"), request.get("method"), request.get("headers")
    if not isinstance(url, str) or not isinstance(method, str) or not isinstance(header_list, list):
        raise _subject_error("The subject token must have a string 'url', a string 'method' and a list 'headers'.")
    if method.upper() != "POST":
        raise _subject_error(f"The subject token's method must be POST, got '{method}'.")
    hostname = _check_caller_identity_url(url)

    pairs: list[tuple[str, str]] = []
    for entry in header_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not isinstance(entry.get("value"), str):
            raise _subject_error("Each subject token header must be an object with string 'key' and 'value'.")
        pairs.append((entry["key"], entry["value"]))
    hdrs = _header_multimap(pairs)

    target = hdrs.get(GOOGLE_TARGET_HEADER, [])
    if not target:
        raise _subject_error(f"The subject token is missing the '{GOOGLE_TARGET_HEADER}' header.")
    if len(target) > 1 or _strip_https(target[0].strip()) != _strip_https(audience.strip()):
        raise _subject_error(
            f"The subject token's '{GOOGLE_TARGET_HEADER}' header '{target[0]}' does not match the audience '{audience}'."
        )
    host = (_one(hdrs, "host") or "").strip().lower()
    if host not in (hostname, f"{hostname}:443"):
        raise _subject_error(f"The subject token's host header '{host}' does not match its url host '{hostname}'.")

    body = request.get("data", request.get("body", ""))
    if not isinstance(body, str):
        raise _subject_error("The subject token's 'data' must be a string.")
    # The target-resource header is outside the signature; the verifier looks only at signed ones.
    signed_pairs = [(name, value) for name, value in pairs if name.lower() != GOOGLE_TARGET_HEADER]
    return verify_signed_request(secret, "POST", url, signed_pairs, body, now=now)

