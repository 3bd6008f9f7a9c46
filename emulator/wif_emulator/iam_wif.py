"""IAM v1 workload identity pools and providers (soft delete, undelete, operations)."""

from __future__ import annotations

import re
from typing import Any

from . import celeval, consistency
from .app import App, Request, Response, json_response, route
from .common import SOFT_DELETE_SECONDS, page, parse_mask, project_or_error, public, rfc3339, truthy
from .errors import GoogleError, already_exists, bad_request, failed_precondition, not_found
from .serviceusage import require_service

ID_RE = re.compile(r"[a-z0-9-]{4,32}")
ATTR_KEY_RE = re.compile(r"google\.(subject|groups|display_name|posix_username)|attribute\.[a-z0-9_]{1,100}")
AWS_ACCOUNT_RE = re.compile(r"[0-9]{12}")
POOL_MASK = ["displayName", "description", "disabled"]
PROVIDER_MASK = ["displayName", "description", "disabled", "attributeMapping",
                 "attributeCondition", "aws", "oidc"]
POOL_TYPE = "type.googleapis.com/google.iam.admin.v1.WorkloadIdentityPool"
PROVIDER_TYPE = "type.googleapis.com/google.iam.admin.v1.WorkloadIdentityPoolProvider"
POOL_META = "type.googleapis.com/google.iam.admin.v1.WorkloadIdentityPoolOperationMetadata"
PROVIDER_META = "type.googleapis.com/google.iam.admin.v1.WorkloadIdentityPoolProviderOperationMetadata"


# --- validation -------------------------------------------------------------------------------

def _check_id(value: str | None, field: str) -> str:
    if not value:
        raise bad_request(field, f"{field} is required (query parameter)")
    if not ID_RE.fullmatch(value):
        raise bad_request(field, f"'{value}' must be 4-32 characters of lowercase letters, digits "
                          "and hyphens")
    if value.startswith("gcp-"):
        raise bad_request(field, f"'{value}': the prefix 'gcp-' is reserved")
    return value


def _check_common(body: dict[str, Any], fields: list[str]) -> None:
    if "displayName" in fields and body.get("displayName") is not None:
        dn = body["displayName"]
        if not isinstance(dn, str) or len(dn) > 32:
            raise bad_request("display_name", "must be a string of at most 32 characters")
    if "description" in fields and body.get("description") is not None:
        d = body["description"]
        if not isinstance(d, str) or len(d) > 256:
            raise bad_request("description", "must be a string of at most 256 characters")
    if "disabled" in fields and body.get("disabled") is not None and not isinstance(body["disabled"], bool):
        raise bad_request("disabled", "must be a boolean")


def _check_mapping(mapping: Any) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise bad_request("attribute_mapping", "must be a map of attribute name to CEL expression")
    if len(mapping) > 50:
        raise bad_request("attribute_mapping", "at most 50 attributes may be mapped")
    for key, expr in mapping.items():
        if not ATTR_KEY_RE.fullmatch(key):
            raise bad_request("attribute_mapping", f"Invalid attribute name '{key}': use "
                              "google.subject, google.groups, google.display_name, "
                              "google.posix_username or attribute.[a-z0-9_]+")
        if not isinstance(expr, str) or not expr or len(expr) > 2048:
            raise bad_request("attribute_mapping", f"'{key}' needs a CEL expression of 1-2048 characters")
        try:
            celeval.check(expr, celeval.MAPPING_VARIABLES)
        except celeval.CelError as exc:
            raise bad_request("attribute_mapping", f"'{key}': {exc}") from exc
    if "google.subject" not in mapping:
        raise bad_request("attribute_mapping", "The attribute mapping must contain a mapping for "
                          "google.subject.")
    return dict(mapping)


def _check_condition(cond: Any) -> str:
    if not isinstance(cond, str):
        raise bad_request("attribute_condition", "must be a string holding a CEL expression")
    if len(cond) > 4096:
        raise bad_request("attribute_condition", "must be at most 4096 characters")
    if cond:
        try:
            celeval.check(cond, celeval.CONDITION_VARIABLES)
        except celeval.CelError as exc:
            raise bad_request("attribute_condition", str(exc)) from exc
    return cond


def _check_aws(aws: Any) -> dict[str, str]:
    if not isinstance(aws, dict) or not isinstance(aws.get("accountId"), str) \
            or not AWS_ACCOUNT_RE.fullmatch(aws["accountId"]):
        raise bad_request("aws.account_id", "an AWS account ID of 12 digits is required")
    return {"accountId": aws["accountId"]}


def _check_oidc(oidc: Any) -> dict[str, Any]:
    if not isinstance(oidc, dict) or not str(oidc.get("issuerUri", "")).startswith("https://"):
        raise bad_request("oidc.issuer_uri", "an https:// issuer URI is required")
    out: dict[str, Any] = {"issuerUri": oidc["issuerUri"]}
    aud = oidc.get("allowedAudiences")
    if aud is not None:
        if not isinstance(aud, list) or not all(isinstance(a, str) for a in aud):
            raise bad_request("oidc.allowed_audiences", "must be a list of strings")
        out["allowedAudiences"] = aud
    return out


# --- lookup -----------------------------------------------------------------------------------

def _purge(app: App) -> None:
    """Soft-deleted resources vanish for good 30 days after deletion."""
    now = app.now()
    for coll in ("pools", "providers"):
        items = app.state.data[coll]
        for name in [n for n, r in items.items() if r.get("_purge_at") and r["_purge_at"] < now]:
            del items[name]


def _parent(app: App, p: dict[str, str]) -> tuple[dict[str, Any], str]:
    proj = project_or_error(app, p["project"])
    if p["location"] != "global":
        raise bad_request("parent", f"location '{p['location']}' is not supported; use 'global'")
    require_service(app, proj, "iam.googleapis.com")
    _purge(app)
    return proj, f"projects/{proj['number']}/locations/global"


def _pool(app: App, p: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    proj, parent = _parent(app, p)
    name = f"{parent}/workloadIdentityPools/{p['pool']}"
    pool = app.state.data["pools"].get(name)
    if pool is None:
        raise not_found(f"Requested entity was not found. (workload identity pool {name})")
    return proj, pool


def _provider(app: App, p: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    _proj, pool = _pool(app, p)
    name = f"{pool['name']}/providers/{p['provider']}"
    prov = app.state.data["providers"].get(name)
    if prov is None:
        raise not_found(f"Requested entity was not found. (workload identity pool provider {name})")
    return pool, prov


def _op(app: App, req: Request, resource: dict[str, Any], rtype: str, meta: str) -> Response:
    """The Operation of a mutation just applied; the new version is remembered for STS, which
    sees it only after provider_propagation_seconds (a resource from an older state file,
    without history, counts as new)."""
    consistency.remember(resource, app.now(), consistency.snapshot(resource))
    name = f"{resource['name']}/operations/{app.op_id()}"
    return json_response(app.new_operation(req, name, meta, dict({"@type": rtype}, **public(resource))))


def _soft_delete(app: App, res: dict[str, Any], what: str) -> None:
    if res["state"] == "DELETED":
        raise failed_precondition(f"The {what} {res['name']} is already deleted.")
    res["state"] = "DELETED"
    res["_purge_at"] = app.now() + SOFT_DELETE_SECONDS
    res["expireTime"] = rfc3339(res["_purge_at"])


def _undelete(res: dict[str, Any], what: str) -> None:
    if res["state"] != "DELETED":
        raise failed_precondition(f"The {what} {res['name']} is not deleted.")
    res["state"] = "ACTIVE"
    res.pop("_purge_at", None)
    res.pop("expireTime", None)


# --- pools ------------------------------------------------------------------------------------

def create_pool(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, parent = _parent(app, p)
    pool_id = _check_id(req.q("workloadIdentityPoolId"), "workload_identity_pool_id")
    body = req.json()
    _check_common(body, POOL_MASK)
    name = f"{parent}/workloadIdentityPools/{pool_id}"
    if name in app.state.data["pools"]:
        raise already_exists(f"Requested entity already exists (workload identity pool {name})")
    pool = {"name": name, "displayName": body.get("displayName", ""),
            "description": body.get("description", ""), "state": "ACTIVE",
            "disabled": bool(body.get("disabled", False)), "mode": "FEDERATION_ONLY"}
    app.state.data["pools"][name] = pool
    return _op(app, req, pool, POOL_TYPE, POOL_META)


def _list(app: App, req: Request, kind: str, prefix: str, key: str) -> Response:
    """One page of the pools or providers under ``prefix``; DELETED ones only with showDeleted."""
    show_deleted = truthy(req.q("showDeleted"))
    items = [public(v) for k, v in sorted(app.state.data[kind].items())
             if k.startswith(prefix) and (show_deleted or v["state"] != "DELETED")]
    chunk, nxt = page(items, req)
    out: dict[str, Any] = {key: chunk} if chunk else {}
    if nxt:
        out["nextPageToken"] = nxt
    return json_response(out)


def get_pool(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(public(_pool(app, p)[1]))


def list_pools(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, parent = _parent(app, p)
    return _list(app, req, "pools", parent + "/", "workloadIdentityPools")


def patch_pool(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    mask = parse_mask(req.q("updateMask"), POOL_MASK)
    body = req.json()
    _check_common(body, mask)
    if pool["state"] == "DELETED":
        raise failed_precondition(f"Cannot update deleted workload identity pool {pool['name']}.")
    for f in mask:
        pool[f] = body.get(f, False if f == "disabled" else "")
    return _op(app, req, pool, POOL_TYPE, POOL_META)


def delete_pool(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    _soft_delete(app, pool, "workload identity pool")
    return _op(app, req, pool, POOL_TYPE, POOL_META)


def undelete_pool(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    _undelete(pool, "workload identity pool")
    return _op(app, req, pool, POOL_TYPE, POOL_META)


def get_pool_operation(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    return json_response(app.get_operation(f"{pool['name']}/operations/{p['op']}"))


# --- providers --------------------------------------------------------------------------------

def _apply_provider_fields(prov: dict[str, Any], body: dict[str, Any], fields: list[str]) -> None:
    """Validate every field first, then write: a bad request changes nothing."""
    _check_common(body, fields)
    new: dict[str, Any] = {}
    for f in fields:
        if f in ("displayName", "description"):
            new[f] = body.get(f) or ""
        elif f == "disabled":
            new[f] = bool(body.get(f, False))
        elif f == "aws":
            new[f] = _check_aws(body.get("aws"))
        elif f == "oidc":
            new[f] = _check_oidc(body.get("oidc"))
        elif f == "attributeCondition":
            new[f] = _check_condition(body.get(f) or "")
    kind_aws = "aws" in new or ("aws" in prov and "oidc" not in new)
    if "attributeMapping" in fields:
        mapping = body.get("attributeMapping") or {}
        if not mapping and kind_aws:
            mapping = dict(celeval.DEFAULT_AWS_MAPPING)  # Google's default for AWS providers
        new["attributeMapping"] = _check_mapping(mapping)
    prov.update(new)


def create_provider(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    prov_id = _check_id(req.q("workloadIdentityPoolProviderId"), "workload_identity_pool_provider_id")
    body = req.json()
    kinds = [k for k in ("aws", "oidc", "saml") if body.get(k)]
    if len(kinds) != 1:
        raise bad_request("provider_config", "exactly one of aws, oidc or saml must be set")
    if kinds[0] == "saml":
        raise GoogleError(501, "SAML providers are not supported by the emulator.", "UNIMPLEMENTED")
    if pool["state"] == "DELETED":
        raise failed_precondition(f"The workload identity pool {pool['name']} is deleted.")
    name = f"{pool['name']}/providers/{prov_id}"
    if name in app.state.data["providers"]:
        raise already_exists(f"Requested entity already exists (workload identity pool provider {name})")
    if kinds[0] == "oidc" and not body.get("attributeMapping"):
        raise bad_request("attribute_mapping", "OIDC providers need an attribute mapping with "
                          "google.subject")
    prov: dict[str, Any] = {"name": name, "state": "ACTIVE"}
    fields = ["displayName", "description", "disabled", kinds[0], "attributeMapping", "attributeCondition"]
    _apply_provider_fields(prov, body, fields)
    app.state.data["providers"][name] = prov
    return _op(app, req, prov, PROVIDER_TYPE, PROVIDER_META)


def get_provider(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(public(_provider(app, p)[1]))


def list_providers(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, pool = _pool(app, p)
    return _list(app, req, "providers", pool["name"] + "/providers/", "workloadIdentityPoolProviders")


def patch_provider(app: App, req: Request, p: dict[str, str]) -> Response:
    _pool_res, prov = _provider(app, p)
    mask = parse_mask(req.q("updateMask"), PROVIDER_MASK)
    body = req.json()
    if prov["state"] == "DELETED":
        raise failed_precondition(f"Cannot update deleted workload identity pool provider {prov['name']}.")
    if ("aws" in mask and "aws" not in prov) or ("oidc" in mask and "oidc" not in prov):
        raise bad_request("update_mask", "the provider type (aws/oidc) cannot be changed")
    _apply_provider_fields(prov, body, mask)
    return _op(app, req, prov, PROVIDER_TYPE, PROVIDER_META)


def delete_provider(app: App, req: Request, p: dict[str, str]) -> Response:
    _pool_res, prov = _provider(app, p)
    _soft_delete(app, prov, "workload identity pool provider")
    return _op(app, req, prov, PROVIDER_TYPE, PROVIDER_META)


def undelete_provider(app: App, req: Request, p: dict[str, str]) -> Response:
    pool, prov = _provider(app, p)
    if pool["state"] == "DELETED":
        raise failed_precondition(f"The workload identity pool {pool['name']} is deleted; "
                                  "undelete it first.")
    _undelete(prov, "workload identity pool provider")
    return _op(app, req, prov, PROVIDER_TYPE, PROVIDER_META)


def get_provider_operation(app: App, req: Request, p: dict[str, str]) -> Response:
    _pool_res, prov = _provider(app, p)
    return json_response(app.get_operation(f"{prov['name']}/operations/{p['op']}"))


_L = r"/v1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/workloadIdentityPools"
_PL = _L + r"/(?P<pool>[^/:]+)"
_PR = _PL + r"/providers"
_PV = _PR + r"/(?P<provider>[^/:]+)"
_N = "iam.projects.locations.workloadIdentityPools"
ROUTES = [
    route(f"{_N}.list", "GET", _L, "read", "admin", list_pools),
    route(f"{_N}.create", "POST", _L, "write", "admin", create_pool),
    route(f"{_N}.get", "GET", _PL, "read", "admin", get_pool),
    route(f"{_N}.patch", "PATCH", _PL, "write", "admin", patch_pool),
    route(f"{_N}.delete", "DELETE", _PL, "write", "admin", delete_pool),
    route(f"{_N}.undelete", "POST", _PL + ":undelete", "write", "admin", undelete_pool),
    route(f"{_N}.operations.get", "GET", _PL + r"/operations/(?P<op>[^/:]+)", "read", "admin", get_pool_operation),
    route(f"{_N}.providers.list", "GET", _PR, "read", "admin", list_providers),
    route(f"{_N}.providers.create", "POST", _PR, "write", "admin", create_provider),
    route(f"{_N}.providers.get", "GET", _PV, "read", "admin", get_provider),
    route(f"{_N}.providers.patch", "PATCH", _PV, "write", "admin", patch_provider),
    route(f"{_N}.providers.delete", "DELETE", _PV, "write", "admin", delete_provider),
    route(f"{_N}.providers.undelete", "POST", _PV + ":undelete", "write", "admin", undelete_provider),
    route(f"{_N}.providers.operations.get", "GET", _PV + r"/operations/(?P<op>[^/:]+)", "read", "admin",
          get_provider_operation),
]
