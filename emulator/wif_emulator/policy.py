"""IAM policies: validation, normalisation, etags, versions, and who-holds-what checks."""

from __future__ import annotations

import copy
import datetime
import hashlib
import re
from collections.abc import Callable
from typing import Any

from celpy import celtypes

from . import celeval, consistency
from .common import parse_mask
from .errors import GoogleError, bad_request

EMPTY_ETAG = "ACAB"
CONCURRENT_MSG = ("There were concurrent policy changes. Please retry the whole "
                  "read-modify-write with exponential backoff.")

_MEMBER_RE = re.compile(
    r"(allUsers|allAuthenticatedUsers|"
    r"(user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount|deleted:group):\S+|"
    r"principal://\S+|principalSet://\S+|projectOwner:\S+|projectEditor:\S+|projectViewer:\S+)"
)
_WIF_PREFIX = r"(principal|principalSet)://iam\.googleapis\.com/projects/([0-9]+)/locations/global/workloadIdentityPools/([a-z0-9-]{4,32})/"
_WIF_MEMBER_RE = re.compile(_WIF_PREFIX + r"(subject/.+|attribute\.[a-z0-9_]+/.+|group/.+|\*)")
_ROLE_RE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")

# Audit configs (google.iam.v1.AuditConfig): the LogType enum without LOG_TYPE_UNSPECIFIED, which
# enables nothing and is refused here (stricter); a service is allServices or an API host name.
AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_WRITE", "DATA_READ")
_AUDIT_SERVICE_RE = re.compile(r"allServices|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
# setIamPolicy's updateMask: "If no mask is provided, the following default mask is used:
# paths: 'bindings, etag'" (SetIamPolicyRequest); auditConfigs change only when the mask names them.
SET_POLICY_MASK = ["bindings", "etag", "auditConfigs", "version"]
DEFAULT_SET_POLICY_MASK = "bindings,etag"

# Roles a service-account resource accepts (the rest are "not supported for this resource").
SA_RESOURCE_ROLE_PREFIXES = ("roles/iam.", "roles/owner", "roles/editor", "roles/viewer",
                             "roles/browser", "projects/", "organizations/")


def empty_policy() -> dict[str, Any]:
    return {"version": 1, "etag": EMPTY_ETAG, "bindings": []}


def _has_conditions(bindings: list[dict[str, Any]]) -> bool:
    return any("condition" in b for b in bindings)


def view(policy: dict[str, Any], requested_version: Any) -> dict[str, Any]:
    """What getIamPolicy answers for a requested policy version."""
    try:
        rv = int(requested_version or 0)
    except (TypeError, ValueError) as exc:
        raise bad_request("options.requestedPolicyVersion", "must be 0, 1 or 3") from exc
    if rv not in (0, 1, 3):
        raise bad_request("options.requestedPolicyVersion",
                          f"Invalid requested policy version {rv}; must be 0, 1 or 3")
    bindings = policy.get("bindings", [])
    out: dict[str, Any] = {"version": 1, "etag": policy["etag"]}
    if _has_conditions(bindings) and rv == 3:
        out["version"] = 3
        shown = bindings
    elif _has_conditions(bindings):
        # Old clients see conditional bindings under a mangled role, as Google shows them.
        shown = []
        for b in bindings:
            if "condition" in b:
                h = hashlib.sha256(repr(b["condition"]).encode()).hexdigest()[:16]
                shown.append({"role": f"{b['role']}_withcond_{h}", "members": b["members"]})
            else:
                shown.append(b)
    else:
        shown = bindings
    if shown:
        out["bindings"] = [dict(b) for b in shown]
    if policy.get("auditConfigs"):
        out["auditConfigs"] = copy.deepcopy(policy["auditConfigs"])
    return out


def validate_and_normalise(policy: Any, resource_kind: str) -> list[dict[str, Any]]:
    """Check a policy from setIamPolicy and return its merged, sorted bindings."""
    if not isinstance(policy, dict):
        raise bad_request("policy", "a policy object is required")
    bindings = policy.get("bindings", []) or []
    if not isinstance(bindings, list):
        raise bad_request("policy.bindings", "must be a list")
    version = policy.get("version", 1) or 1
    if version not in (1, 3):
        raise bad_request("policy.version", f"Invalid policy version {version}; must be 1 or 3")
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for i, b in enumerate(bindings):
        where = f"policy.bindings[{i}]"
        if not isinstance(b, dict):
            raise bad_request(where, "must be an object")
        role = b.get("role")
        if not isinstance(role, str) or not _ROLE_RE.fullmatch(role):
            raise bad_request(f"{where}.role", f"Role {role!r} is not a valid role name.")
        if "_withcond_" in role:
            raise bad_request(f"{where}.role", "Policy version 1 view cannot be written back; "
                              "read with requestedPolicyVersion 3.")
        if resource_kind == "serviceAccount" and not role.startswith(SA_RESOURCE_ROLE_PREFIXES):
            raise GoogleError(400, f"Role {role} is not supported for this resource.",
                              "INVALID_ARGUMENT")
        members = b.get("members", []) or []
        if not isinstance(members, list):
            raise bad_request(f"{where}.members", "must be a list")
        for m in members:
            check_member(m, f"{where}.members")
        cond = b.get("condition")
        ckey = ""
        if cond is not None:
            if version != 3:
                raise GoogleError(400, "Conditional role bindings require policy version 3; "
                                  "set policy.version to 3.", "INVALID_ARGUMENT")
            if not isinstance(cond, dict) or not cond.get("expression") or not cond.get("title"):
                raise bad_request(f"{where}.condition", "a condition needs a title and an expression")
            try:
                celeval.check(cond["expression"])
            except celeval.CelError as exc:
                raise bad_request(f"{where}.condition.expression", str(exc)) from exc
            cond = {k: cond[k] for k in ("title", "description", "expression") if cond.get(k)}
            ckey = repr(sorted(cond.items()))
        if not members:
            continue  # Google drops bindings without members
        entry = merged.setdefault((role, ckey), {"role": role, "members": []})
        if cond is not None:
            entry["condition"] = cond
        for m in members:
            if m not in entry["members"]:
                entry["members"].append(m)
    out = []
    for key in sorted(merged):
        entry = merged[key]
        entry["members"] = sorted(entry["members"])
        out.append(entry)
    return out


def check_member(member: Any, where: str) -> None:
    if not isinstance(member, str) or not _MEMBER_RE.fullmatch(member):
        raise bad_request(where, f"Invalid member {member!r}: expected user:, serviceAccount:, "
                          "group:, domain:, principal:// or principalSet://")
    if member.startswith(("principal://", "principalSet://")) and not _WIF_MEMBER_RE.fullmatch(member):
        raise bad_request(where, f"Invalid principal identifier {member!r}: expected "
                          "principal://iam.googleapis.com/projects/NUMBER/locations/global/"
                          "workloadIdentityPools/POOL/subject/SUBJECT or principalSet://.../"
                          "attribute.NAME/VALUE, .../group/GROUP or .../*")


def validate_audit_configs(policy: Any) -> list[dict[str, Any]]:
    """Check policy.auditConfigs and return them normalised (log types in enum order, members sorted).

    Refused: a service given twice, a log type given twice in one service, an AuditConfig without
    AuditLogConfigs ("An AuditConfig must have one or more AuditLogConfigs"), LOG_TYPE_UNSPECIFIED.
    """
    configs = policy.get("auditConfigs", []) or []
    if not isinstance(configs, list):
        raise bad_request("policy.auditConfigs", "must be a list")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, config in enumerate(configs):
        where = f"policy.auditConfigs[{i}]"
        if not isinstance(config, dict):
            raise bad_request(where, "must be an object")
        unknown = sorted(set(config) - {"service", "auditLogConfigs"})
        if unknown:
            raise bad_request(f"{where}.{unknown[0]}", f"Unknown field {unknown[0]!r} in AuditConfig")
        service = config.get("service")
        if not isinstance(service, str) or not _AUDIT_SERVICE_RE.fullmatch(service):
            raise bad_request(f"{where}.service", f"Invalid service {service!r}: expected allServices or "
                              "a service name such as storage.googleapis.com")
        if service in seen:
            raise bad_request(f"{where}.service", f"Duplicate AuditConfig for service {service}")
        seen.add(service)
        log_configs = config.get("auditLogConfigs")
        if not isinstance(log_configs, list) or not log_configs:
            raise bad_request(f"{where}.auditLogConfigs", "An AuditConfig must have one or more AuditLogConfigs")
        by_type: dict[str, dict[str, Any]] = {}
        for j, log_config in enumerate(log_configs):
            lwhere = f"{where}.auditLogConfigs[{j}]"
            if not isinstance(log_config, dict):
                raise bad_request(lwhere, "must be an object")
            unknown = sorted(set(log_config) - {"logType", "exemptedMembers"})
            if unknown:
                raise bad_request(f"{lwhere}.{unknown[0]}", f"Unknown field {unknown[0]!r} in AuditLogConfig")
            log_type = log_config.get("logType")
            if log_type not in AUDIT_LOG_TYPES:
                raise bad_request(f"{lwhere}.logType", f"Invalid value {log_type!r}; expected one of "
                                  f"{', '.join(AUDIT_LOG_TYPES)}")
            if log_type in by_type:
                raise bad_request(f"{lwhere}.logType", f"Duplicate AuditLogConfig for log type {log_type}")
            members = log_config.get("exemptedMembers", []) or []
            if not isinstance(members, list):
                raise bad_request(f"{lwhere}.exemptedMembers", "must be a list")
            for m in members:
                check_member(m, f"{lwhere}.exemptedMembers")
            entry: dict[str, Any] = {"logType": log_type}
            if members:
                entry["exemptedMembers"] = sorted(set(members))
            by_type[log_type] = entry
        out.append({"service": service,
                    "auditLogConfigs": [by_type[t] for t in AUDIT_LOG_TYPES if t in by_type]})
    return out


def set_policy(stored: dict[str, Any], body: Any, resource_kind: str, next_etag: str,
               forced_conflict: bool, *, now: float | None = None,
               check_bindings: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """setIamPolicy semantics: etag compare-and-swap, then replace. Returns the new policy.

    ``check_bindings`` may refuse the normalised bindings (raise); with ``now`` the old and new
    bindings are remembered as timestamped versions for propagation delays (see enforced()).
    """
    if not isinstance(body, dict) or "policy" not in body:
        raise bad_request("policy", "setIamPolicy needs a body {\"policy\": {...}}")
    new = body["policy"]
    raw_mask = body.get("updateMask")
    mask = parse_mask(DEFAULT_SET_POLICY_MASK if raw_mask in (None, "") else raw_mask, SET_POLICY_MASK)
    bindings = validate_and_normalise(new, resource_kind)
    # Every field is parsed (a bad enum fails the request), but only the masked ones are written.
    audit_configs = validate_audit_configs(new)
    if "bindings" in mask and check_bindings is not None:
        check_bindings(bindings)
    etag = new.get("etag") if isinstance(new, dict) else None
    if forced_conflict or (etag and etag != stored["etag"]):
        raise GoogleError(409, CONCURRENT_MSG, "ABORTED")
    if "bindings" in mask:
        if now is not None:
            consistency.remember(stored, now, copy.deepcopy(bindings),
                                 before=copy.deepcopy(stored.get("bindings", [])))
        stored["bindings"] = bindings
    if "auditConfigs" in mask:
        if audit_configs:
            stored["auditConfigs"] = audit_configs
        else:
            stored.pop("auditConfigs", None)
    stored["version"] = 3 if _has_conditions(stored.get("bindings", [])) else 1
    stored["etag"] = next_etag
    return view(stored, 3)


def enforced(policy: dict[str, Any], now: float, delay: float) -> dict[str, Any]:
    """The policy as permission checks see it: the bindings current ``delay`` seconds ago
    (getIamPolicy shows the newest at once; enforcement lags, both for grants and revocations)."""
    return {"bindings": consistency.lagged(policy, now, delay, policy.get("bindings", [])) or []}


def _condition_holds(cond: dict[str, Any], resource_name: str, now: float) -> bool:
    t = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    request = celtypes.MapType({celtypes.StringType("time"): celeval.timestamp(t)})
    resource = {"name": resource_name, "type": "", "service": ""}
    try:
        return celeval.evaluate(cond["expression"], {"request": request, "resource": resource}) is True
    except celeval.CelError:
        return False  # an IAM condition that errors grants nothing


def holds(policy: dict[str, Any], roles: set[str], principals: set[str],
          resource_name: str, now: float) -> bool:
    """True when one of the principals holds one of the roles (conditions evaluated)."""
    for b in policy.get("bindings", []):
        if b["role"] not in roles or not principals.intersection(b["members"]):
            continue
        if "condition" in b and not _condition_holds(b["condition"], resource_name, now):
            continue
        return True
    return False
