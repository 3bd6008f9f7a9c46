"""SigV4 verification of STS requests signed with the emulator's credentials.

SigV4 is checked the way AWS checks it (canonical request, string to sign, derived signing key),
so requests signed by botocore's ``SigV4Auth`` and by google-auth's own signer (the subject token
of an AWS workload identity federation) both verify. Errors carry AWS's own codes and messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .credentials import _access_key_id, _open_token, _secret_access_key, _secret_bytes, _utcnow, role_unique_id
from .errors import MSG_EXPIRED_TOKEN, MSG_INVALID_TOKEN, MSG_MISSING_AUTH, MSG_SIGNATURE, AwsAuthError
from .partitions import _looks_like_aws_host, partition_of_region, sts_host_region

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# AWS rejects a request whose x-amz-date is more than 15 minutes off its own clock.
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CallerIdentity:
    """Who signed a request: an assumed-role session."""

    account_id: str
    arn: str
    user_id: str
    role_name: str
    session_name: str
    expiration: dt.datetime


def _header_multimap(headers: Any) -> dict[str, list[str]]:
    """Lower-cased header name -> values, from a dict, an http.server message or (name, value) pairs."""
    if headers is None:
        return {}
    items: Iterable[Any] = headers.items() if hasattr(headers, "items") else headers
    result: dict[str, list[str]] = {}
    for name, value in items:
        result.setdefault(str(name).strip().lower(), []).append(str(value))
    return result


def _one(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _parse_authorization(value: str) -> tuple[list[str], list[str], str]:
    """(credential scope parts, signed headers, signature) from an Authorization header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AwsAuthError(
            "IncompleteSignature",
            f"Unsupported AWS 'algorithm': '{algorithm}'. Only {ALGORITHM} is accepted.",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    if missing:
        text = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        raise AwsAuthError("IncompleteSignature", f"{text} Authorization={value}")
    credential = fields["Credential"].split("/")
    if len(credential) != 5:
        raise AwsAuthError(
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{fields['Credential']}'",
        )
    signed = fields["SignedHeaders"].split(";")
    if any(not name or name != name.strip().lower() for name in signed):
        raise AwsAuthError("IncompleteSignature", f"Invalid SignedHeaders: '{fields['SignedHeaders']}'")
    return credential, signed, fields["Signature"]


def _canonical_uri(path: str) -> str:
    # Non-S3 services normalise the path (dot segments, duplicate slashes) and URI-encode it
    # once more, exactly what botocore signs; the STS path is "/" in practice.
    if not path:
        return "/"
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _body_bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _check_region(host: str, region: str) -> None:
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    expected = sts_host_region(hostname)
    if expected is None:
        if _looks_like_aws_host(hostname):
            # e.g. sts.cn-north-1.amazonaws.com: no such endpoint, AWS never answers it.
            raise AwsAuthError("UnknownEndpoint", f"There is no AWS STS endpoint at '{hostname}'.", 404)
        return  # the emulator's own address: any region signs
    if region != expected:
        raise AwsAuthError("SignatureDoesNotMatch", f"Credential should be scoped to a valid region, not '{region}'. ")


def _check_skew(amz_date: dt.datetime, now: dt.datetime, raw: str) -> None:
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if amz_date < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise AwsAuthError("SignatureDoesNotMatch", f"Signature expired: {raw} is now earlier than {earliest} ({stamp} - 15 min.)")
    if amz_date > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(AMZ_DATE_FORMAT)
        raise AwsAuthError("SignatureDoesNotMatch", f"Signature not yet current: {raw} is still later than {latest} ({stamp} + 15 min.)")


def verify_signed_request(secret: str | bytes, method: str, url: str, headers: Any, body: bytes | str | None,
                          *, now: dt.datetime | None = None) -> CallerIdentity:
    """Verify a SigV4-signed STS request made with credentials from :func:`mint_credentials`.

    ``url`` may be absolute or just the request target (path and query); ``headers`` a dict,
    an ``http.server`` message or (name, value) pairs. Raises :class:`AwsAuthError`.
    """
    key = _secret_bytes(secret)
    now = _utcnow(now)
    hdrs = _header_multimap(headers)

    authorization = _one(hdrs, "authorization")
    if not authorization:
        raise AwsAuthError("MissingAuthenticationToken", MSG_MISSING_AUTH)
    credential, signed_headers, signature = _parse_authorization(authorization)
    access_key_id, scope_date, region, service, terminator = credential

    raw_date = _one(hdrs, "x-amz-date")
    if not raw_date:
        raise AwsAuthError("IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        amz_date = dt.datetime.strptime(raw_date.strip(), AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise AwsAuthError("IncompleteSignature", f"Date must be in ISO-8601 'basic format'. Got '{raw_date}'.") from None
    if scope_date != raw_date.strip()[:8]:
        raise AwsAuthError(
            "SignatureDoesNotMatch",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{raw_date.strip()[:8]}', from '{raw_date.strip()}'.",
        )
    if service != "sts":
        raise AwsAuthError("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'. ")
    if terminator != "aws4_request":
        raise AwsAuthError("SignatureDoesNotMatch", f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. ")
    if "host" not in signed_headers:
        raise AwsAuthError("SignatureDoesNotMatch", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    host = _one(hdrs, "host") or ""
    _check_region(host.strip(), region)
    _check_skew(amz_date, now, raw_date.strip())

    # Every key this emulator issues is temporary (ASIA...): without its session token it is unknown.
    token = _one(hdrs, "x-amz-security-token")
    if not token:
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)
    token = token.strip()
    claims = _open_token(key, token)
    if not hmac.compare_digest(access_key_id.encode(), _access_key_id(key, token).encode()):
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)
    # Each partition has its own IAM: its credentials are unknown to another partition's STS
    # (a region outside every known partition is treated as one of the aws partition).
    cred_partition = str(claims.get("p", "aws"))
    if cred_partition != (partition_of_region(region) or "aws"):
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)
    expiration = dt.datetime.fromtimestamp(int(claims["e"]), dt.UTC)
    if now >= expiration:
        raise AwsAuthError("ExpiredToken", MSG_EXPIRED_TOKEN)

    missing = [name for name in signed_headers if name not in hdrs]
    if missing:
        raise AwsAuthError("SignatureDoesNotMatch", f"{MSG_SIGNATURE} (signed header missing from the request: {', '.join(missing)})")
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in hdrs[name])}\n" for name in signed_headers
    )
    payload = _body_bytes(body)
    payload_hash = hashlib.sha256(payload).hexdigest()
    declared = _one(hdrs, "x-amz-content-sha256")
    if declared is not None and declared.strip() not in (payload_hash, UNSIGNED_PAYLOAD):
        raise AwsAuthError("SignatureDoesNotMatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
    if declared is not None:
        payload_hash = declared.strip()

    target = urlsplit(url)
    canonical_request = "\n".join([
        method.upper(),
        _canonical_uri(target.path),
        _canonical_query(target.query),
        canonical_headers,
        ";".join(signed_headers),
        payload_hash,
    ])
    scope = f"{scope_date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join([
        ALGORITHM,
        raw_date.strip(),
        scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    secret_access_key = _secret_access_key(key, access_key_id, token)
    expected = hmac.new(_signing_key(secret_access_key, scope_date, region, service),
                        string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not _SIGNATURE_RE.fullmatch(signature) or not hmac.compare_digest(expected, signature):
        raise AwsAuthError("SignatureDoesNotMatch", MSG_SIGNATURE)

    account, role, session = str(claims["a"]), str(claims["r"]), str(claims["s"])
    return CallerIdentity(
        account_id=account,
        arn=f"arn:{cred_partition}:sts::{account}:assumed-role/{role}/{session}",
        user_id=f"{role_unique_id(account, role)}:{session}",
        role_name=role,
        session_name=session,
        expiration=expiration,
    )

