"""The AWS side of the emulator: temporary credentials, SigV4 verification, STS GetCallerIdentity.

One concern per module; this package re-exports the names its callers use (``aws.mint_credentials``):

- ``partitions``: AWS partitions, their DNS suffixes and region patterns, the STS hostnames that exist;
- ``errors``: :class:`AwsAuthError` and AWS's own error messages;
- ``credentials``: minting the stateless, unforgeable temporary credentials and opening their session token;
- ``sigv4``: SigV4 verification of a signed STS request, :class:`CallerIdentity`;
- ``subject_token``: the AWS subject token google-auth sends to Google's STS token exchange;
- ``web_identity``: the OIDC issuers' RS256 key, minting and verifying projected service-account tokens;
- ``sts_query``: the STS Query API (``GetCallerIdentity``, ``AssumeRoleWithWebIdentity``) and its XML.
"""

from __future__ import annotations

# _ACCOUNT_RE, _ROLE_RE and _utcnow are private but imds.py imports them from here.
from .credentials import _ACCOUNT_RE as _ACCOUNT_RE
from .credentials import _ROLE_RE as _ROLE_RE
from .credentials import EXPIRATION_FORMAT, MAX_TTL_SECONDS, instance_profile_id, mint_credentials, role_unique_id
from .credentials import _utcnow as _utcnow
from .errors import MSG_EXPIRED_TOKEN, MSG_INVALID_TOKEN, MSG_MISSING_AUTH, MSG_SIGNATURE, AwsAuthError
from .partitions import PARTITIONS, STS_FIPS_REGIONS, STS_GLOBAL_HOST, partition_of_region, sts_host_region
from .sigv4 import ALGORITHM, AMZ_DATE_FORMAT, MAX_CLOCK_SKEW, UNSIGNED_PAYLOAD, CallerIdentity, verify_signed_request
from .sts_query import STS_VERSION, STS_XMLNS, handle_sts_query
from .subject_token import GOOGLE_TARGET_HEADER, verify_google_subject_token

__all__ = [
    "ALGORITHM",
    "AMZ_DATE_FORMAT",
    "EXPIRATION_FORMAT",
    "GOOGLE_TARGET_HEADER",
    "MAX_CLOCK_SKEW",
    "MAX_TTL_SECONDS",
    "MSG_EXPIRED_TOKEN",
    "MSG_INVALID_TOKEN",
    "MSG_MISSING_AUTH",
    "MSG_SIGNATURE",
    "PARTITIONS",
    "STS_FIPS_REGIONS",
    "STS_GLOBAL_HOST",
    "STS_VERSION",
    "STS_XMLNS",
    "UNSIGNED_PAYLOAD",
    "AwsAuthError",
    "CallerIdentity",
    "handle_sts_query",
    "instance_profile_id",
    "mint_credentials",
    "partition_of_region",
    "role_unique_id",
    "sts_host_region",
    "verify_google_subject_token",
    "verify_signed_request",
]
