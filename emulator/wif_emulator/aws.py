"""The AWS side of the emulator: temporary credentials, SigV4 verification, STS GetCallerIdentity.

Credentials are stateless and unforgeable. The session token carries the account, role, session
name and expiry, sealed with an HMAC keyed by the emulator's ``aws.credential_secret``. The access
key id and the secret access key are both derived from that token with the same secret, so a
verifier that holds the secret recomputes the signing key from the token alone, and nobody
without the secret can mint a token, or pair a token with other keys, that verifies.

SigV4 is checked the way AWS checks it (canonical request, string to sign, derived signing key),
so requests signed by botocore's ``SigV4Auth`` and by google-auth's own signer (the subject token
of an AWS workload identity federation) both verify. Errors carry AWS's own codes and messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import posixpath
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

STS_VERSION = "2011-06-15"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# AWS rejects a request whose x-amz-date is more than 15 minutes off its own clock.
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
# Longest session AWS grants to a role (12 h); the shortest here is 1 s so tests can expire creds.
MAX_TTL_SECONDS = 43200
GOOGLE_TARGET_HEADER = "x-goog-cloud-target-resource"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_TOKEN_MAGIC = b"wifemu-sts-v1\x00"
_MAC_LEN = 32
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
# IAM role names and role session names: [A-Za-z0-9+=,.@_-], 1-64 and 2-64 characters (ASCII
# only; the IAM and STS API references). All patterns here are used with fullmatch().
_ROLE_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_SESSION_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{2,64}")
# AWS partitions: id -> (DNS suffix, region pattern), from botocore's data/partitions.json
# (botocore 1.43.11; tests/emulator/test_partitions.py checks this table against the installed
# botocore). A region belongs to the first partition whose pattern it matches.
PARTITIONS: dict[str, tuple[str, re.Pattern[str]]] = {
    name: (suffix, re.compile(pattern, re.ASCII))
    for name, suffix, pattern in (
        ("aws", "amazonaws.com", r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+"),
        ("aws-cn", "amazonaws.com.cn", r"cn-\w+-\d+"),
        ("aws-us-gov", "amazonaws.com", r"us-gov-\w+-\d+"),
        ("aws-iso", "c2s.ic.gov", r"us-iso-\w+-\d+"),
        ("aws-iso-b", "sc2s.sgov.gov", r"us-isob-\w+-\d+"),
        ("aws-iso-e", "cloud.adc-e.uk", r"eu-isoe-\w+-\d+"),
        ("aws-iso-f", "csp.hci.ic.gov", r"us-isof-\w+-\d+"),
        ("aws-eusc", "amazonaws.eu", r"eusc-(de)-\w+-\d+"),
    )
}
# STS hostnames besides sts.REGION.DNS_SUFFIX (botocore's data/endpoints.json, service "sts"):
# the legacy global endpoint (credential scope us-east-1) and the FIPS endpoints of the aws
# partition. In aws-us-gov the FIPS hostname is sts.REGION.amazonaws.com itself.
STS_GLOBAL_HOST = "sts.amazonaws.com"
STS_FIPS_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")
_STS_HOST_RE = re.compile(r"sts(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")

MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_MISSING_AUTH = "Request is missing Authentication Token"


class AwsAuthError(Exception):
    """An AWS authentication failure: ``code`` is AWS's error code, ``status`` the HTTP status.

    Codes: MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId, ExpiredToken,
    SignatureDoesNotMatch (all 403), and InvalidSubjectToken (400) for a Google subject token
    that is not a well-formed signed GetCallerIdentity request for the given audience.
    """

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def partition_of_region(region: str) -> str | None:
    """The partition id (aws, aws-cn, aws-us-gov, ...) a region belongs to, else None."""
    for name, (_suffix, pattern) in PARTITIONS.items():
        if isinstance(region, str) and pattern.fullmatch(region):
            return name
    return None


def sts_host_region(hostname: str) -> str | None:
    """The signing region of a real AWS STS hostname, else None (not an STS endpoint that exists).

    ``sts.REGION.SUFFIX`` exists only when REGION's partition has the DNS suffix SUFFIX, so
    ``sts.cn-north-1.amazonaws.com`` and ``sts.us-east-1.amazonaws.com.cn`` do not.
    """
    name = hostname.lower().rstrip(".")
    if name == STS_GLOBAL_HOST:
        return "us-east-1"  # the global endpoint signs as us-east-1
    match = _STS_HOST_RE.fullmatch(name)
    if not match:
        return None
    region, suffix = match.group("region"), match.group("suffix")
    partition = partition_of_region(region)
    if partition is None or PARTITIONS[partition][0] != suffix:
        return None
    if match.group("fips") and (partition != "aws" or region not in STS_FIPS_REGIONS):
        return None
    return region


def _looks_like_aws_host(hostname: str) -> bool:
    name = hostname.lower().rstrip(".")
    return any(name == suffix or name.endswith("." + suffix) for suffix, _pattern in PARTITIONS.values())


@dataclass(frozen=True)
class CallerIdentity:
    """Who signed a request: an assumed-role session."""

    account_id: str
    arn: str
    user_id: str
    role_name: str
    session_name: str
    expiration: dt.datetime


# --------------------------------------------------------------------------- helpers


def _utcnow(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=dt.UTC)
    return now.astimezone(dt.UTC)


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise ValueError("aws.credential_secret: must be a non-empty string")
    return secret


def _mac(secret: bytes, label: bytes, *parts: bytes) -> bytes:
    # Domain-separated HMACs: the token seal, the key id and the secret key never collide.
    mac = hmac.new(secret, label + b"\x00", hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(4, "big") + part)
    return mac.digest()


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def role_unique_id(account_id: str, role_name: str) -> str:
    """The role's stable unique id, ``AROA`` + 16 uppercase characters (as in ``aws:userid``)."""
    digest = hashlib.sha256(f"role:{account_id}:{role_name}".encode()).digest()
    return "AROA" + _b32(digest[:10])


def instance_profile_id(account_id: str, role_name: str) -> str:
    """A stable instance profile id, ``AIPA`` + 16 uppercase characters."""
    digest = hashlib.sha256(f"instance-profile:{account_id}:{role_name}".encode()).digest()
    return "AIPA" + _b32(digest[:10])


def _access_key_id(secret: bytes, token: str) -> str:
    return "ASIA" + _b32(_mac(secret, b"akid", token.encode("ascii"))[:10])


def _secret_access_key(secret: bytes, access_key_id: str, token: str) -> str:
    raw = _mac(secret, b"sak", access_key_id.encode("ascii"), token.encode("ascii"))[:30]
    return base64.b64encode(raw).decode("ascii")


def _format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(EXPIRATION_FORMAT)


# --------------------------------------------------------------------------- minting


def mint_credentials(secret: str | bytes, account_id: str, role_name: str, session_name: str,
                     ttl_seconds: int, *, now: dt.datetime | None = None, partition: str = "aws") -> dict[str, str]:
    """Temporary credentials for ``arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION``.

    Returns the JSON object IMDS serves at ``iam/security-credentials/ROLE``. Credentials of one
    partition are unknown to the STS endpoints of every other partition, as in AWS.
    """
    if partition not in PARTITIONS:
        raise ValueError(f"partition: must be one of {', '.join(PARTITIONS)}, got {partition!r}")
    key = _secret_bytes(secret)
    if not isinstance(account_id, str) or not _ACCOUNT_RE.fullmatch(account_id):
        raise ValueError(f"account_id: must be 12 digits, got {account_id!r}")
    if not isinstance(role_name, str) or not _ROLE_RE.fullmatch(role_name):
        raise ValueError(f"role_name: must be 1-64 characters of [A-Za-z0-9+=,.@_-], got {role_name!r}")
    if not isinstance(session_name, str) or not _SESSION_RE.fullmatch(session_name):
        raise ValueError(f"session_name: must be 2-64 characters of [A-Za-z0-9+=,.@_-], got {session_name!r}")
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds: must be an integer from 1 to {MAX_TTL_SECONDS}, got {ttl_seconds!r}")

    issued = _utcnow(now).replace(microsecond=0)
    expires = issued + dt.timedelta(seconds=ttl_seconds)
    claims = {
        "a": account_id,
        "r": role_name,
        "s": session_name,
        "i": int(issued.timestamp()),
        "e": int(expires.timestamp()),
        # A nonce so that every minting yields new keys, as AWS rotates them.
        "n": secrets.token_hex(8),
    }
    if partition != "aws":
        claims["p"] = partition
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8")
    sealed = _TOKEN_MAGIC + payload
    token = base64.b64encode(sealed + _mac(key, b"token", sealed)).decode("ascii")
    access_key_id = _access_key_id(key, token)
    return {
        "Code": "Success",
        "LastUpdated": _format_time(issued),
        "Type": "AWS-HMAC",
        "AccessKeyId": access_key_id,
        "SecretAccessKey": _secret_access_key(key, access_key_id, token),
        "Token": token,
        "Expiration": _format_time(expires),
    }


def _open_token(secret: bytes, token: str) -> dict[str, Any]:
    """The claims of a session token this emulator sealed, else InvalidClientTokenId."""
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN) from None
    sealed, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
    if not sealed.startswith(_TOKEN_MAGIC) or not hmac.compare_digest(mac, _mac(secret, b"token", sealed)):
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)
    claims = json.loads(sealed[len(_TOKEN_MAGIC):])
    if not isinstance(claims, dict) or not {"a", "r", "s", "e"} <= claims.keys():
        raise AwsAuthError("InvalidClientTokenId", MSG_INVALID_TOKEN)
    return claims


# --------------------------------------------------------------------------- SigV4


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


# --------------------------------------------------------------------------- Google subject token


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


# --------------------------------------------------------------------------- STS Query API


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
