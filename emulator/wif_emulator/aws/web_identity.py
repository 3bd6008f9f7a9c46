"""Web identity tokens: the OIDC issuers the emulator owns, their RS256 keys, minting and verifying JWTs.

An EKS cluster's OIDC issuer (``https://oidc.eks.REGION.amazonaws.com/id/HEX``) signs the
projected service-account tokens that IRSA (audience ``sts.amazonaws.com``) and EKS Pod Identity
(audience ``pods.eks.amazonaws.com``) hand to the SDKs. The emulator plays every such issuer with
ONE RSA key derived from ``aws.credential_secret`` (so the main emulator and a separate
container-credentials process agree on it without sharing state), and a second, "foreign" key,
also derived, that it never trusts: tokens signed by it look right and fail the signature.

The RSA arithmetic is plain Python (PKCS#1 v1.5 with SHA-256, RFC 8017 section 8.2): the keys are
derived deterministically, which a general crypto library does not offer.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import random
import re
import secrets
from dataclasses import dataclass
from typing import Any

KEY_BITS = 2048
# DER DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_E = 65537
_SMALL_PRIMES = [n for n in range(3, 2000, 2) if all(n % d for d in range(3, int(n ** 0.5) + 1, 2))]
# IRSA's token audience (the trust policy's "oidc:aud") and Pod Identity's (EKS User Guide,
# "IAM roles for service accounts" and "EKS Pod Identity": the projected token's audience).
STS_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
DEFAULT_SUBJECT = "system:serviceaccount:default:litellm"
_SA_SUBJECT_RE = re.compile(r"system:serviceaccount:(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<sa>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)")


class TokenError(Exception):
    """Why a JWT was refused: ``kind`` is malformed | key | signature | expired | not_yet_valid."""

    def __init__(self, kind: str, message: str, claims: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.claims = claims or {}


# --------------------------------------------------------------------------- RSA


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int
    kid: str

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8

    def jwk(self) -> dict[str, str]:
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": _b64(_int_bytes(self.n)), "e": _b64(_int_bytes(self.e))}


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _probably_prime(n: int, rng: random.Random) -> bool:
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _round in range(40):
        a = 2 + rng.getrandbits(n.bit_length() - 2) % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _square in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (candidate - 1) % _E and _probably_prime(candidate, rng):
            return candidate


@functools.lru_cache(maxsize=8)
def derived_key(secret: str, label: str) -> RsaKey:
    """The RSA key for ``label`` derived from ``secret`` (same inputs, same key, in every process)."""
    rng = random.Random(hashlib.sha256(f"wifemu-oidc-key\x00{label}\x00{secret}".encode()).digest())
    while True:
        p, q = _prime(rng, KEY_BITS // 2), _prime(rng, KEY_BITS // 2)
        n = p * q
        if p != q and n.bit_length() == KEY_BITS:
            break
    d = pow(_E, -1, (p - 1) * (q - 1))
    kid = hashlib.sha256(_int_bytes(n)).hexdigest()[:40]
    return RsaKey(n, _E, d, kid)


def trusted_key(secret: str) -> RsaKey:
    return derived_key(secret, "trusted")


def foreign_key(secret: str) -> RsaKey:
    return derived_key(secret, "foreign")


def _emsa(digest: bytes, size: int) -> int:
    info = _SHA256_PREFIX + digest
    return int.from_bytes(b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info, "big")


def rs256_sign(key: RsaKey, data: bytes) -> bytes:
    return pow(_emsa(hashlib.sha256(data).digest(), key.size), key.d, key.n).to_bytes(key.size, "big")


def rs256_verify(key: RsaKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != key.size:
        return False
    s = int.from_bytes(signature, "big")
    return s < key.n and pow(s, key.e, key.n) == _emsa(hashlib.sha256(data).digest(), key.size)


# --------------------------------------------------------------------------- JWT


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _epoch(now: dt.datetime | None) -> int:
    return int((now or dt.datetime.now(dt.UTC)).timestamp())


def mint_token(secret: str, issuer: str, *, subject: str = DEFAULT_SUBJECT, audience: str = STS_AUDIENCE,
               ttl_seconds: int = 86400, foreign: bool = False, now: dt.datetime | None = None) -> str:
    """A Kubernetes projected service-account token (RS256 JWT) from ``issuer``.

    ``ttl_seconds`` <= 0 gives a token that expired ``-ttl_seconds`` (at least 1) seconds ago;
    ``foreign`` signs it with the key the emulator does not trust.
    """
    issued = _epoch(now)
    if ttl_seconds <= 0:
        issued -= 3600
        expires = _epoch(now) - max(1, -ttl_seconds)
    else:
        expires = issued + ttl_seconds
    claims: dict[str, Any] = {"aud": [audience], "exp": expires, "iat": issued, "iss": issuer, "nbf": issued, "sub": subject}
    match = _SA_SUBJECT_RE.fullmatch(subject)
    if match:
        uid = hashlib.sha256(f"{issuer}:{subject}".encode()).hexdigest()
        claims["kubernetes.io"] = {
            "namespace": match.group("ns"),
            "serviceaccount": {"name": match.group("sa"), "uid": f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"},
            "pod": {"name": f"{match.group('sa')}-{secrets.token_hex(5)}", "uid": secrets.token_hex(16)},
        }
    key = foreign_key(secret) if foreign else trusted_key(secret)
    header = {"alg": "RS256", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{_b64(rs256_sign(key, signing_input.encode('ascii')))}"


def unverified_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS, or TokenError(kind="malformed")."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "token contains an invalid number of segments")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed", "token is malformed: could not base64/JSON-decode a segment") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("malformed", "token is malformed: header and claims must be JSON objects")
    return header, claims


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def verify_token(secret: str, token: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The claims of a token signed by the emulator's trusted key and valid now, else TokenError.

    Checks, in order: the JWS shape, alg RS256, the key (kid), the signature, exp and nbf. The
    audience and issuer are the caller's to check (they differ between STS and EKS Auth).
    """
    header, claims = unverified_claims(token)
    if header.get("alg") != "RS256":
        raise TokenError("key", f"unsupported signing algorithm {header.get('alg')!r}", claims)
    key = trusted_key(secret)
    if header.get("kid") != key.kid:
        raise TokenError("key", "no verification key matches the token's kid", claims)
    head, body, sig = token.strip().split(".")
    if not rs256_verify(key, f"{head}.{body}".encode("ascii"), _unb64(sig)):
        raise TokenError("signature", "the token's signature does not verify", claims)
    stamp = _epoch(now)
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenError("malformed", "token has no numeric exp claim", claims)
    if stamp >= exp:
        raise TokenError("expired", f"token expired at {exp}, now {stamp}", claims)
    nbf = claims.get("nbf")
    if isinstance(nbf, int) and stamp < nbf:
        raise TokenError("not_yet_valid", f"token is not valid before {nbf}, now {stamp}", claims)
    return claims
