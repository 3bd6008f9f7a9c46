"""Google STS /v1/token (AWS subject tokens) and IAM Credentials generateAccessToken."""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any

from . import aws, celeval
from . import policy as pol
from .app import App, Request, Response, json_response, route
from .common import rfc3339
from .consistency import lagged
from .errors import GoogleError, OAuthError, access_token_expired, bad_request, error_info, failed_precondition, not_found, permission_denied, unauthenticated
from .iam_sa import find_sa, resource_name, visible
from .serviceusage import require_service

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
AWS_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
SUBJECT_TOKEN_TYPES = {AWS_TOKEN_TYPE, "urn:ietf:params:oauth:token-type:jwt",
                       "urn:ietf:params:oauth:token-type:id_token",
                       "urn:ietf:params:oauth:token-type:saml2"}
AUDIENCE_RE = re.compile(r"(?:https:)?//iam\.googleapis\.com/projects/([^/]+)/locations/global/"
                         r"workloadIdentityPools/([^/]+)/providers/([^/]+)")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
# generateAccessToken's default lifetime, and its maximum without the organization policy
# constraints/iam.allowServiceAccountCredentialLifetimeExtension.
DEFAULT_LIFETIME = 3600
FEDERATED_PREFIX = "ya29.d.emu-"
SERVICE_ACCOUNT_PREFIX = "ya29.c.emu-"
IAMCREDENTIALS = ("iamcredentials.googleapis.com", "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken")
INVALID_TARGET = ("The target service indicated by the \"audience\" parameters is invalid. This "
                  "might either be because the pool or provider is disabled or deleted or because "
                  "it doesn't exist.")
CONDITION_REJECTED = "The given credential is rejected by the attribute condition."
WIF_ROLES = {"roles/iam.workloadIdentityUser", "roles/iam.serviceAccountTokenCreator"}
# A delegate must hold this on the next account of the chain (GenerateAccessTokenRequest.delegates).
TOKEN_CREATOR = {"roles/iam.serviceAccountTokenCreator"}
DELEGATE_RE = re.compile(r"projects/-/serviceAccounts/([^/]+)")


# --- token store ------------------------------------------------------------------------------

def _issue(app: App, prefix: str, record: dict[str, Any], lifetime: int) -> tuple[str, float]:
    """A new token valid for ``lifetime`` seconds from the start of the current second (so the
    whole-second expiry a client is told is never later than the real one)."""
    tokens = app.state.data["tokens"]
    now = app.now()
    for t in [t for t, r in tokens.items() if r["expires"] <= now]:
        del tokens[t]  # expired tokens are forgotten at the next issue: their text says when they expired
    expires = float(math.floor(now) + lifetime)
    # The expiry is part of the token, as in Google's, so a forgotten token is still known as expired.
    token = f"{prefix}{int(expires):x}.{secrets.token_urlsafe(40)}"
    tokens[token] = dict(record, expires=expires, issued=now)
    return token, expires


def _expired_by_its_text(token: str, now: float) -> bool:
    for prefix in (FEDERATED_PREFIX, SERVICE_ACCOUNT_PREFIX):
        if token.startswith(prefix):
            stamp = token[len(prefix):].split(".", 1)[0]
            return bool(re.fullmatch(r"[0-9a-f]{1,12}", stamp)) and int(stamp, 16) <= now
    return False


def resolve_token(app: App, req: Request, service: str, method: str) -> dict[str, Any]:
    """The record of the bearer token, or 401 as Google answers unknown or expired tokens
    (ACCESS_TOKEN_EXPIRED naming ``service`` and ``method``, the RPC called)."""
    token = req.bearer()
    if token is None:
        raise unauthenticated(missing=True)
    now = app.now()
    rec = app.state.data["tokens"].get(token)
    if (rec is not None and rec["expires"] <= now) or (rec is None and _expired_by_its_text(token, now)):
        raise access_token_expired(service, method)
    if rec is None:
        raise unauthenticated(missing=False)
    if rec["kind"] == "service_account":
        sa = find_sa(app, rec["unique_id"])
        if sa is None or sa.get("disabled"):
            raise unauthenticated(missing=False)  # tokens die with their account
    else:
        # "You cannot use a disabled pool to ... use existing tokens to access resources."
        # Like the pool itself at STS, its disabling reaches here after provider_propagation_seconds.
        current = app.state.data["pools"].get(f"projects/{rec['project_number']}/locations/global/"
                                              f"workloadIdentityPools/{rec['pool']}")
        pool = _as_sts_sees_it(app, current)
        if pool is None or pool["state"] != "ACTIVE" or pool.get("disabled"):
            raise unauthenticated(missing=False)
    return rec


def _as_sts_sees_it(app: App, resource: dict[str, Any] | None) -> dict[str, Any] | None:
    """A pool or provider as STS sees it: the version current provider_propagation_seconds ago
    (None: it did not exist yet)."""
    if resource is None:
        return None
    return lagged(resource, app.now(), app.config.consistency.provider_propagation_seconds, resource)


def principals(rec: dict[str, Any]) -> set[str]:
    """The IAM principal identifiers a token stands for."""
    if rec["kind"] == "admin":
        return {rec["principal"]}
    if rec["kind"] == "service_account":
        return {f"serviceAccount:{rec['email']}"}
    base = (f"//iam.googleapis.com/projects/{rec['project_number']}/locations/global/"
            f"workloadIdentityPools/{rec['pool']}")
    out = {f"principal:{base}/subject/{rec['subject']}", f"principalSet:{base}/*"}
    for key, value in rec["attributes"].items():
        values = value if isinstance(value, list) else [value]
        if key.startswith("attribute."):
            out.update(f"principalSet:{base}/{key}/{v}" for v in values)
        elif key == "google.groups":
            out.update(f"principalSet:{base}/group/{v}" for v in values)
    return out


def require_scope(rec: dict[str, Any], accepted: set[str]) -> None:
    if not accepted.intersection(rec["scopes"]):
        raise GoogleError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED",
                          [error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "googleapis.com")])


# --- STS --------------------------------------------------------------------------------------

def _sts_params(req: Request) -> dict[str, str]:
    ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        data = req.json()
        # The JSON (googleapiclient) form uses camelCase names.
        names = {"grantType": "grant_type", "requestedTokenType": "requested_token_type",
                 "subjectToken": "subject_token", "subjectTokenType": "subject_token_type"}
        return {names.get(k, k): v for k, v in data.items() if isinstance(v, str)}
    return req.form()


def _lookup_target(app: App, audience: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    m = AUDIENCE_RE.fullmatch(audience)
    if not m:
        raise OAuthError("invalid_target", INVALID_TARGET)
    number, pool_id, prov_id = m.groups()
    proj = app.state.project(number)
    # The audience must carry the project NUMBER, as Google's does.
    if proj is None or proj["number"] != number:
        raise OAuthError("invalid_target", INVALID_TARGET)
    pool_name = f"projects/{number}/locations/global/workloadIdentityPools/{pool_id}"
    pool = _as_sts_sees_it(app, app.state.data["pools"].get(pool_name))
    prov = _as_sts_sees_it(app, app.state.data["providers"].get(f"{pool_name}/providers/{prov_id}"))
    for res in (pool, prov):
        if res is None or res["state"] != "ACTIVE" or res.get("disabled"):
            raise OAuthError("invalid_target", INVALID_TARGET)
    assert pool is not None and prov is not None
    return proj, pool, prov


def _map_attributes(prov: dict[str, Any], assertion: dict[str, Any]) -> dict[str, Any]:
    mapping = prov.get("attributeMapping") or celeval.DEFAULT_AWS_MAPPING
    out: dict[str, Any] = {}
    for key, expr in mapping.items():
        try:
            value = celeval.evaluate(expr, {"assertion": assertion})
        except celeval.CelError as exc:
            if key == "google.subject":
                raise OAuthError("invalid_grant", f"The mapped attribute google.subject could not be "
                                 f"computed: {exc}") from exc
            continue  # Google leaves an attribute out when its expression fails
        if key == "google.groups":
            if not isinstance(value, list):
                value = [value]
            out[key] = [str(v) for v in value]
        elif value is not None:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    subject = out.get("google.subject")
    if not isinstance(subject, str) or not subject:
        raise OAuthError("invalid_grant", "The mapped attribute google.subject is empty.")
    if len(subject.encode()) > 127:
        raise OAuthError("invalid_grant", "The mapped attribute google.subject exceeds the 127 byte limit.")
    return out


def _condition_passes(prov: dict[str, Any], assertion: dict[str, Any], attrs: dict[str, Any]) -> bool:
    cond = prov.get("attributeCondition")
    if not cond:
        return True
    variables = {
        "assertion": assertion,
        "attribute": {k.split(".", 1)[1]: v for k, v in attrs.items() if k.startswith("attribute.")},
        "google": {k.split(".", 1)[1]: v for k, v in attrs.items() if k.startswith("google.")},
    }
    try:
        return celeval.evaluate(cond, variables) is True
    except celeval.CelError:
        return False  # a condition that cannot be evaluated rejects the credential


def sts_token(app: App, req: Request, p: dict[str, str]) -> Response:
    f = _sts_params(req)
    grant = f.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "The grant_type parameter is required.")
    if grant != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type '{grant}'; expected "
                         f"{GRANT_TYPE}.")
    for name in ("requested_token_type", "subject_token_type", "subject_token", "audience"):
        if not f.get(name):
            raise OAuthError("invalid_request", f"The {name} parameter is required.")
    if f["requested_token_type"] != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"Invalid requested_token_type "
                         f"'{f['requested_token_type']}'; expected {ACCESS_TOKEN_TYPE}.")
    if f["subject_token_type"] not in SUBJECT_TOKEN_TYPES:
        raise OAuthError("invalid_request", f"Invalid subject_token_type '{f['subject_token_type']}'.")
    scopes = (f.get("scope") or "").split()
    if not scopes:
        raise OAuthError("invalid_scope", "The scope parameter is required.")
    for s in scopes:
        if not s.startswith(SCOPE_PREFIX):
            raise OAuthError("invalid_scope", f"Invalid scope '{s}'.")

    proj, pool, prov = _lookup_target(app, f["audience"])
    if "aws" not in prov:
        raise OAuthError("invalid_request", "The subject_token_type is not supported by the "
                         "provider: it is not an AWS provider.")
    if f["subject_token_type"] != AWS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"Invalid subject_token_type for an AWS provider; "
                         f"expected {AWS_TOKEN_TYPE}.")
    try:
        caller = aws.verify_google_subject_token(app.config.credential_secret, f["subject_token"],
                                                 f["audience"], now=app.now_utc())
    except aws.AwsAuthError as err:
        if err.code == "InvalidSubjectToken":
            raise OAuthError("invalid_grant", f"Invalid AWS subject token: {err.message}") from err
        raise OAuthError("invalid_grant", f"Received invalid AWS response of type {err.code} with "
                         f"error message: {err.message}") from err
    if caller.account_id != prov["aws"]["accountId"]:
        raise OAuthError("invalid_grant", f"The AWS account {caller.account_id} of the credential "
                         f"does not match the account {prov['aws']['accountId']} configured on "
                         "the provider.")
    assertion = {"arn": caller.arn, "account": caller.account_id, "userid": caller.user_id}
    attrs = _map_attributes(prov, assertion)
    if not _condition_passes(prov, assertion, attrs):
        raise OAuthError("unauthorized_client", CONDITION_REJECTED)
    pool_id = pool["name"].rsplit("/", 1)[1]
    lifetime = app.config.tokens.federated_token_seconds
    token, _exp = _issue(app, FEDERATED_PREFIX, {
        "kind": "federated", "project_number": proj["number"], "pool": pool_id,
        "provider": prov["name"].rsplit("/", 1)[1], "subject": attrs["google.subject"],
        "attributes": attrs, "scopes": scopes,
    }, lifetime)
    app.count_success("sts_token_exchanges")
    app.note_aws_credentials(caller.arn, caller.expiration)
    return json_response({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                          "token_type": "Bearer", "expires_in": lifetime})


# --- IAM Credentials --------------------------------------------------------------------------

_DURATION_RE = re.compile(r"([0-9]+)(?:\.[0-9]+)?s")


def _lifetime(app: App, body: dict[str, Any]) -> int:
    """The granted lifetime: the requested one ("3600s" format, default 3600 s, at most 3600 s
    unless tokens.service_account_token_seconds models the lifetime-extension org policy),
    cut to tokens.service_account_token_seconds."""
    cap = app.config.tokens.service_account_token_seconds
    longest = max(DEFAULT_LIFETIME, cap)
    requested = DEFAULT_LIFETIME
    if body.get("lifetime") is not None:
        m = _DURATION_RE.fullmatch(str(body["lifetime"]))
        if not m:
            raise GoogleError(400, f"Invalid value at 'lifetime' ({body['lifetime']}): expected a "
                              "duration such as '3600s'.", "INVALID_ARGUMENT")
        requested = int(m.group(1))
        if not 1 <= requested <= longest:
            hint = (" (longer lifetimes need the constraints/iam.allowServiceAccountCredentialLifetimeExtension "
                    "organization policy)") if longest == DEFAULT_LIFETIME else ""
            raise GoogleError(400, f"The lifetime must be between 1s and {longest}s{hint}.", "INVALID_ARGUMENT")
    return min(requested, cap)


def _caller(app: App, req: Request) -> dict[str, Any]:
    """The record of the caller's token; an admin token stands for config.admin_principal (a user
    whose bindings are checked like any caller's: owning a project does not grant getAccessToken)."""
    token = req.bearer()
    if token is not None and token in app.config.admin_tokens:
        return {"kind": "admin", "principal": app.config.admin_principal, "scopes": [CLOUD_PLATFORM]}
    return resolve_token(app, req, *IAMCREDENTIALS)


def _delegates(body: dict[str, Any]) -> list[str]:
    """The account references of ``delegates`` (projects/-/serviceAccounts/EMAIL_OR_UNIQUE_ID each)."""
    raw = body.get("delegates")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("delegates", "must be a list of strings")
    refs = []
    for i, item in enumerate(raw):
        m = DELEGATE_RE.fullmatch(item) if isinstance(item, str) else None
        if m is None:
            raise bad_request(f"delegates[{i}]", "must have the format projects/-/serviceAccounts/"
                              "{ACCOUNT_EMAIL_OR_UNIQUEID}; the - wildcard is required")
        refs.append(m.group(1))
    return refs


def _link_holds(app: App, sa: dict[str, Any], who: set[str], roles: set[str]) -> bool:
    """One of ``who`` holds one of ``roles`` on ``sa`` (its own policy or its project's)."""
    proj = app.state.project(sa["projectId"])
    assert proj is not None
    now = app.now()
    delay = app.config.consistency.iam_propagation_seconds
    name = resource_name(sa)
    return (pol.holds(pol.enforced(sa["iam_policy"], now, delay), roles, who, name, now)
            or pol.holds(pol.enforced(proj["iam_policy"], now, delay), roles, who, name, now))


def generate_access_token(app: App, req: Request, p: dict[str, str]) -> Response:
    rec = _caller(app, req)
    require_scope(rec, {CLOUD_PLATFORM, IAM_SCOPE})
    body = req.json()
    delegate_refs = _delegates(body)
    ref = p["sa"]
    denied = permission_denied("iam.serviceAccounts.getAccessToken")
    sa = find_sa(app, ref)
    if sa is None or (p["project"] != "-" and app.state.project(p["project"]) is None):
        raise denied  # Google does not say whether the account exists
    proj = app.state.project(sa["projectId"])
    assert proj is not None
    require_service(app, proj, "iamcredentials.googleapis.com")
    # The chain: the caller needs the permission on the first account (the first delegate, else the
    # target); each delegate needs roles/iam.serviceAccountTokenCreator on the next one.
    chain = []
    for dref in delegate_refs:
        link = find_sa(app, dref)
        if link is None:
            raise denied
        chain.append(link)
    chain.append(sa)
    who = principals(rec)
    roles = WIF_ROLES
    for link in chain:
        if not visible(app, link):
            # Google's answer for an account its token service cannot see yet.
            raise not_found(f"Not found; Gaia id not found for email {link['email']}")
        if not _link_holds(app, link, who, roles):
            raise denied
        if link.get("disabled"):
            raise failed_precondition("Precondition check failed.")
        who, roles = {f"serviceAccount:{link['email']}"}, TOKEN_CREATOR
    scope = body.get("scope")
    if isinstance(scope, str):
        scope = [scope]
    if not isinstance(scope, list) or not scope or not all(isinstance(s, str) and s for s in scope):
        raise GoogleError(400, "Scope is required; give at least one OAuth scope.", "INVALID_ARGUMENT")
    token, expires = _issue(app, SERVICE_ACCOUNT_PREFIX, {
        "kind": "service_account", "email": sa["email"], "unique_id": sa["uniqueId"],
        "scopes": scope, "delegates": [link["email"] for link in chain[:-1]],
    }, _lifetime(app, body))
    app.count_success("generate_access_token")
    # google-auth parses expireTime with "%Y-%m-%dT%H:%M:%SZ": no fractional seconds.
    return json_response({"accessToken": token, "expireTime": rfc3339(expires, fraction=False)})


ROUTES = [
    route("sts.token", "POST", r"/v1/token", "token", "none", sts_token),
    route("iamcredentials.projects.serviceAccounts.generateAccessToken", "POST",
          r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts/(?P<sa>[^/:]+):generateAccessToken",
          "token", "none", generate_access_token),
]
