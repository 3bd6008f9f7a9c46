"""The AWS STS Query API (GetCallerIdentity, AssumeRoleWithWebIdentity), answered in XML as AWS answers."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from . import web_identity
from .credentials import _SESSION_RE, mint_credentials, role_unique_id
from .errors import AwsAuthError
from .partitions import PARTITIONS, _looks_like_aws_host, partition_of_region, sts_host_region
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


# AssumeRoleWithWebIdentity (STS API reference): RoleArn is an IAM role ARN (a path is allowed),
# RoleSessionName [\w+=,.@-]{2,64}, WebIdentityToken 4-20000 characters, DurationSeconds 900-43200
# and at most the role's MaxSessionDuration (3600 s unless raised; the emulator's roles keep it).
_ROLE_ARN_RE = re.compile(r"arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):role/(?:[!-~]+/)?(?P<role>[A-Za-z0-9+=,.@_-]{1,64})")
ROLE_MAX_SESSION_SECONDS = 3600
MSG_NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
MSG_AUDIENCE = "Incorrect token audience"
MSG_NOT_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
MSG_NO_KEY = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"


class _StsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _validation(message: str) -> _StsError:
    return _StsError(400, "ValidationError", message)


def _xml_web_identity(creds: dict[str, str], arn: str, role_id: str, subject: str, audience: str, provider: str, request_id: str) -> bytes:
    return (
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_XMLNS}">\n'
        "  <AssumeRoleWithWebIdentityResult>\n"
        f"    <SubjectFromWebIdentityToken>{escape(subject)}</SubjectFromWebIdentityToken>\n"
        f"    <Audience>{escape(audience)}</Audience>\n"
        "    <AssumedRoleUser>\n"
        f"      <Arn>{escape(arn)}</Arn>\n"
        f"      <AssumedRoleId>{escape(role_id)}</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        f"      <SessionToken>{escape(creds['Token'])}</SessionToken>\n"
        f"      <SecretAccessKey>{escape(creds['SecretAccessKey'])}</SecretAccessKey>\n"
        f"      <Expiration>{escape(creds['Expiration'])}</Expiration>\n"
        f"      <AccessKeyId>{escape(creds['AccessKeyId'])}</AccessKeyId>\n"
        "    </Credentials>\n"
        f"    <Provider>{escape(provider)}</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata>\n"
        f"    <RequestId>{request_id}</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n"
    ).encode()


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        field = name[0].lower() + name[1:]
        raise _validation(f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")
    return value


def assume_role_with_web_identity(config: Any, params: dict[str, str], host: str, now: dt.datetime) -> tuple[dict[str, str], str, str, str, str, str]:
    """Check one AssumeRoleWithWebIdentity call against ``config`` (the emulator Config: its
    ``credential_secret``, ``oidc_provider()`` and ``aws_account()``); returns (credentials, arn,
    assumed_role_id, subject, audience, provider) or raises _StsError."""
    role_arn = _required(params, "RoleArn")
    session = _required(params, "RoleSessionName")
    token = _required(params, "WebIdentityToken")
    if not _SESSION_RE.fullmatch(session):
        raise _validation(f"1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: [\\w+=,.@-]*")
    if not 4 <= len(token) <= 20000:
        raise _validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
                          "Member must have length between 4 and 20000")
    duration_raw = params.get("DurationSeconds")
    # Without DurationSeconds (botocore never sends it) AWS issues 3600 s sessions (STS API reference,
    # AssumeRoleWithWebIdentity: "the value is set to 3600 seconds" by default).
    duration = 3600
    if duration_raw is not None:
        if not duration_raw.isdigit() or not 900 <= int(duration_raw) <= 43200:
            raise _validation(f"1 validation error detected: Value '{duration_raw}' at 'durationSeconds' failed to satisfy constraint: "
                              "Member must have value between 900 and 43200")
        duration = int(duration_raw)
        if duration > ROLE_MAX_SESSION_SECONDS:
            raise _validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    match = _ROLE_ARN_RE.fullmatch(role_arn)
    if not match or match.group("partition") not in PARTITIONS:
        raise _validation("Request ARN is invalid")
    partition, account_id, role = match.group("partition"), match.group("account"), match.group("role")
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    region = sts_host_region(hostname)
    if region is None and _looks_like_aws_host(hostname):
        raise _StsError(404, "UnknownEndpoint", f"There is no AWS STS endpoint at '{hostname}'.")
    if region is not None and partition_of_region(region) != partition:
        # The role lives in another partition's IAM: this STS does not know it.
        raise _StsError(403, "AccessDenied", MSG_NOT_AUTHORIZED)

    secret = config.credential_secret
    try:
        claims = web_identity.verify_token(secret, token, now=now)
    except web_identity.TokenError as err:
        if err.kind == "malformed":
            raise _StsError(400, "InvalidIdentityToken", MSG_NOT_JWT) from None
        claims = err.claims
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or config.oidc_provider(issuer, account_id) is None:
            raise _StsError(400, "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}") from None
        if err.kind in ("key", "signature"):
            raise _StsError(400, "InvalidIdentityToken", MSG_NO_KEY) from None
        if err.kind == "expired":
            raise _StsError(400, "ExpiredTokenException",
                            f"Token expired: current date/time {int(now.timestamp())} must be before the expiration date/time {claims.get('exp')}") from None
        raise _StsError(400, "InvalidIdentityToken", f"Token is not yet valid: current date/time {int(now.timestamp())} "
                        f"must be after the not-before date/time {claims.get('nbf')}") from None
    issuer = claims.get("iss")
    provider = config.oidc_provider(issuer, account_id) if isinstance(issuer, str) else None
    if provider is None:
        raise _StsError(400, "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}")
    matched = [a for a in web_identity.audiences(claims) if a in provider.audiences]
    if not matched:
        raise _StsError(400, "InvalidIdentityToken", MSG_AUDIENCE)
    subject = claims.get("sub")
    account = config.aws_account(account_id)
    if account is None or role not in account.roles or not isinstance(subject, str):
        raise _StsError(403, "AccessDenied", MSG_NOT_AUTHORIZED)
    if provider.subjects and not any(fnmatch.fnmatchcase(subject, pattern) for pattern in provider.subjects):
        raise _StsError(403, "AccessDenied", MSG_NOT_AUTHORIZED)
    creds = mint_credentials(secret, account_id, role, session, duration, now=now, partition=partition)
    arn = f"arn:{partition}:sts::{account_id}:assumed-role/{role}/{session}"
    return creds, arn, f"{role_unique_id(account_id, role)}:{session}", subject, matched[0], issuer


def _query_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            params.setdefault(unquote(name.replace("+", " ")), unquote(value.replace("+", " ")))
    return params


def _all_params(method: str, url: str, headers: Any, body: bytes | str | None) -> dict[str, str]:
    params = _query_params(urlsplit(url).query)
    if method.upper() == "POST":
        form_type = (_one(_header_multimap(headers), "content-type") or "application/x-www-form-urlencoded").lower()
        if form_type.split(";")[0].strip() == "application/x-www-form-urlencoded":
            for name, value in _query_params(_body_bytes(body).decode("utf-8", "replace")).items():
                params.setdefault(name, value)
    return params


def handle_sts_query(secret: str | bytes, method: str, url: str, headers: Any, body: bytes | str | None,
                     *, now: dt.datetime | None = None, config: Any = None) -> tuple[int, str, bytes]:
    """Answer one AWS STS Query API request: ``(status, content_type, body)``, XML as AWS answers.

    AssumeRoleWithWebIdentity is unsigned (the token is the credential) and needs ``config``.
    """
    request_id = str(uuid.uuid4())
    content_type = "text/xml"
    if config is not None and method.upper() in ("GET", "POST"):
        params = _all_params(method, url, headers, body)
        if params.get("Action") == "AssumeRoleWithWebIdentity" and params.get("Version") == STS_VERSION:
            moment = now or dt.datetime.now(dt.UTC)
            try:
                result = assume_role_with_web_identity(config, params, (_one(_header_multimap(headers), "host") or "").strip(), moment)
            except _StsError as err:
                return err.status, content_type, _xml_error(err.code, err.message, request_id)
            return 200, content_type, _xml_web_identity(*result, request_id)
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
