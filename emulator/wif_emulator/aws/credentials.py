"""Minting and opening the emulator's temporary AWS credentials.

Credentials are stateless and unforgeable. The session token carries the account, role, session
name and expiry, sealed with an HMAC keyed by the emulator's ``aws.credential_secret``. The access
key id and the secret access key are both derived from that token with the same secret, so a
verifier that holds the secret recomputes the signing key from the token alone, and nobody
without the secret can mint a token, or pair a token with other keys, that verifies.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from .errors import MSG_INVALID_TOKEN, AwsAuthError
from .partitions import PARTITIONS

EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Longest session AWS grants to a role (12 h); the shortest here is 1 s so tests can expire creds.
MAX_TTL_SECONDS = 43200

_TOKEN_MAGIC = b"wifemu-sts-v1\x00"
_MAC_LEN = 32
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
# IAM role names and role session names: [A-Za-z0-9+=,.@_-], 1-64 and 2-64 characters (ASCII
# only; the IAM and STS API references). All patterns here are used with fullmatch().
_ROLE_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_SESSION_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{2,64}")


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
