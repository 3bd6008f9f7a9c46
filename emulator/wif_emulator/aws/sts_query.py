"""The AWS STS Query API (GetCallerIdentity), answered in XML as AWS answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from .errors import AwsAuthError
from .sigv4 import CallerIdentity, _body_bytes, _header_multimap, _one, verify_signed_request

STS_VERSION = "2011-06-15"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"


def _xml_error(code: str, message: str, request_id: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{STS_XMLNS}">\n'
        "  <Error>\n"
        "    <Type>Sender</Type>\n"
        f"    <Code>{escape(code)}</Code>\n"
        f"    <Message>{escape(message)}</Message>\n"
        "  </Error>\n"
        f"  <RequestId>{request_id}</RequestId>\n"
        "</ErrorResponse>\n"
    ).encode()


def _xml_identity(identity: CallerIdentity, request_id: str) -> bytes:
    return (
        f'<GetCallerIdentityResponse xmlns="{STS_XMLNS}">\n'
        "  <GetCallerIdentityResult>\n"
        f"    <Arn>{escape(identity.arn)}</Arn>\n"
        f"    <UserId>{escape(identity.user_id)}</UserId>\n"
        f"    <Account>{escape(identity.account_id)}</Account>\n"
        "  </GetCallerIdentityResult>\n"
        "  <ResponseMetadata>\n"
        f"    <RequestId>{request_id}</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</GetCallerIdentityResponse>\n"
    ).encode()


def _query_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            params.setdefault(unquote(name.replace("+", " ")), unquote(value.replace("+", " ")))
    return params


def handle_sts_query(secret: str | bytes, method: str, url: str, headers: Any, body: bytes | str | None,
                     *, now: dt.datetime | None = None) -> tuple[int, str, bytes]:
    """Answer one AWS STS Query API request: ``(status, content_type, body)``, XML as AWS answers."""
    request_id = str(uuid.uuid4())
    content_type = "text/xml"
    try:
        identity = verify_signed_request(secret, method, url, headers, body, now=now)
    except AwsAuthError as err:
        return err.status, content_type, _xml_error(err.code, err.message, request_id)

    params = _query_params(urlsplit(url).query)
    if method.upper() == "POST":
        form_type = (_one(_header_multimap(headers), "content-type") or "application/x-www-form-urlencoded").lower()
        if form_type.split(";")[0].strip() == "application/x-www-form-urlencoded":
            for name, value in _query_params(_body_bytes(body).decode("utf-8", "replace")).items():
                params.setdefault(name, value)
    elif method.upper() != "GET":
        return 405, content_type, _xml_error("InvalidAction", f"The HTTP method {method.upper()} is not supported.", request_id)

    action = params.get("Action")
    if not action:
        return 400, content_type, _xml_error("MissingAction", "Missing Action", request_id)
    version = params.get("Version", "")
    if action != "GetCallerIdentity" or version != STS_VERSION:
        return 400, content_type, _xml_error("InvalidAction", f"Could not find operation {action} for version {version or 'NO_VERSION_SPECIFIED'}", request_id)
    return 200, content_type, _xml_identity(identity, request_id)
