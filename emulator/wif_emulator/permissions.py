"""Per-permission checks for the control plane, for control_plane_service_accounts tokens.

Every control-plane route id maps to the one IAM permission Google documents for the method
("Authorization requires the following IAM permission ...", each method's REST reference page;
sources per group below and in docs/emulator.md). A service-account token of an account listed
in control_plane_service_accounts may call a route only when the project's IAM policy (as
enforcement sees it, iam_propagation_seconds late) grants ``serviceAccount:EMAIL`` a role holding
that permission: a predefined role of PREDEFINED_ROLES or a custom role of the project
(iam_roles.py). Otherwise 403 PERMISSION_DENIED naming the permission and the resource, before
the handler runs (so before any state change). Admin tokens (config admin_tokens) are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import consistency
from . import policy as pol
from .errors import GoogleError, error_info

Resource = Callable[[dict[str, str]], str]


def _project(p: dict[str, str]) -> str:
    return f"projects/{p['project']}"


def _location(p: dict[str, str]) -> str:
    return f"projects/{p['project']}/locations/{p['location']}"


def _pool(p: dict[str, str]) -> str:
    return f"{_location(p)}/workloadIdentityPools/{p['pool']}"


def _provider(p: dict[str, str]) -> str:
    return f"{_pool(p)}/providers/{p['provider']}"


def _account(p: dict[str, str]) -> str:
    return f"projects/{p['project']}/serviceAccounts/{p['sa']}"


def _service(p: dict[str, str]) -> str:
    return f"projects/{p['project']}/services/{p['service']}"


def _role(p: dict[str, str]) -> str:
    return f"projects/{p['project']}/roles/{p['role']}"


_OP_PROJECT_RE = re.compile(r"acf\.p2-(?P<number>[0-9]+)-")


def _operation(p: dict[str, str]) -> str:
    # The emulator's Service Usage operation names carry the project number (serviceusage._op_name).
    m = _OP_PROJECT_RE.match(p["op"])
    return f"projects/{m['number']}" if m else f"operations/{p['op']}"


_WIF = "iam.projects.locations.workloadIdentityPools"
_SA = "iam.projects.serviceAccounts"

# route id -> (permission, service host of the resource name, resource of the path parameters)
ROUTE_PERMISSIONS: dict[str, tuple[str, str, Resource]] = {
    # Resource Manager v1: cloud.google.com/resource-manager/reference/rest/v1/projects/{get,getIamPolicy,setIamPolicy}
    "cloudresourcemanager.projects.get": ("resourcemanager.projects.get", "cloudresourcemanager", _project),
    "cloudresourcemanager.projects.getIamPolicy": ("resourcemanager.projects.getIamPolicy", "cloudresourcemanager", _project),
    "cloudresourcemanager.projects.setIamPolicy": ("resourcemanager.projects.setIamPolicy", "cloudresourcemanager", _project),
    # IAM v1 workload identity pools and providers: cloud.google.com/iam/docs/reference/rest/v1/
    # projects.locations.workloadIdentityPools[.providers]/<method> ("IAM Permissions"). The
    # operations.get pages name no permission: the emulator asks for the parent's get (stricter).
    f"{_WIF}.list": ("iam.workloadIdentityPools.list", "iam", _location),
    f"{_WIF}.create": ("iam.workloadIdentityPools.create", "iam", _location),
    f"{_WIF}.get": ("iam.workloadIdentityPools.get", "iam", _pool),
    f"{_WIF}.patch": ("iam.workloadIdentityPools.update", "iam", _pool),
    f"{_WIF}.delete": ("iam.workloadIdentityPools.delete", "iam", _pool),
    f"{_WIF}.undelete": ("iam.workloadIdentityPools.undelete", "iam", _pool),
    f"{_WIF}.operations.get": ("iam.workloadIdentityPools.get", "iam", _pool),
    f"{_WIF}.providers.list": ("iam.workloadIdentityPoolProviders.list", "iam", _pool),
    f"{_WIF}.providers.create": ("iam.workloadIdentityPoolProviders.create", "iam", _pool),
    f"{_WIF}.providers.get": ("iam.workloadIdentityPoolProviders.get", "iam", _provider),
    f"{_WIF}.providers.patch": ("iam.workloadIdentityPoolProviders.update", "iam", _provider),
    f"{_WIF}.providers.delete": ("iam.workloadIdentityPoolProviders.delete", "iam", _provider),
    f"{_WIF}.providers.undelete": ("iam.workloadIdentityPoolProviders.undelete", "iam", _provider),
    f"{_WIF}.providers.operations.get": ("iam.workloadIdentityPoolProviders.get", "iam", _provider),
    # IAM v1 service accounts: cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/<method>
    # and cloud.google.com/iam/docs/service-accounts-permissions (patch is iam.serviceAccounts.update).
    f"{_SA}.list": ("iam.serviceAccounts.list", "iam", _project),
    f"{_SA}.create": ("iam.serviceAccounts.create", "iam", _project),
    f"{_SA}.get": ("iam.serviceAccounts.get", "iam", _account),
    f"{_SA}.patch": ("iam.serviceAccounts.update", "iam", _account),
    f"{_SA}.delete": ("iam.serviceAccounts.delete", "iam", _account),
    f"{_SA}.undelete": ("iam.serviceAccounts.undelete", "iam", _account),
    f"{_SA}.disable": ("iam.serviceAccounts.disable", "iam", _account),
    f"{_SA}.enable": ("iam.serviceAccounts.enable", "iam", _account),
    f"{_SA}.getIamPolicy": ("iam.serviceAccounts.getIamPolicy", "iam", _account),
    f"{_SA}.setIamPolicy": ("iam.serviceAccounts.setIamPolicy", "iam", _account),
    # Service Usage v1: cloud.google.com/service-usage/docs/access-control (batchEnable needs
    # serviceusage.services.enable, batchGet serviceusage.services.get) and the method pages.
    "serviceusage.services.list": ("serviceusage.services.list", "serviceusage", _project),
    "serviceusage.services.batchEnable": ("serviceusage.services.enable", "serviceusage", _project),
    "serviceusage.services.batchGet": ("serviceusage.services.get", "serviceusage", _project),
    "serviceusage.services.get": ("serviceusage.services.get", "serviceusage", _service),
    "serviceusage.services.enable": ("serviceusage.services.enable", "serviceusage", _service),
    "serviceusage.services.disable": ("serviceusage.services.disable", "serviceusage", _service),
    "serviceusage.operations.get": ("serviceusage.operations.get", "serviceusage", _operation),
    # IAM v1 custom roles: cloud.google.com/iam/docs/reference/rest/v1/projects.roles/<method>
    # (patch is iam.roles.update).
    "iam.projects.roles.list": ("iam.roles.list", "iam", _project),
    "iam.projects.roles.create": ("iam.roles.create", "iam", _project),
    "iam.projects.roles.get": ("iam.roles.get", "iam", _role),
    "iam.projects.roles.patch": ("iam.roles.update", "iam", _role),
    "iam.projects.roles.delete": ("iam.roles.delete", "iam", _role),
    "iam.projects.roles.undelete": ("iam.roles.undelete", "iam", _role),
}

# Every permission the emulator checks: a custom role may include only these (see iam_roles.py).
KNOWN_PERMISSIONS: frozenset[str] = frozenset(perm for perm, _h, _r in ROUTE_PERMISSIONS.values())


def _having(*prefixes: str, exclude: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(p for p in KNOWN_PERMISSIONS if p.startswith(prefixes) and p not in exclude)


_READ_SUFFIXES = (".get", ".list", ".getIamPolicy")
_SET_POLICY = ("resourcemanager.projects.setIamPolicy", "iam.serviceAccounts.setIamPolicy")
_ROLE_WRITES = ("iam.roles.create", "iam.roles.update", "iam.roles.delete", "iam.roles.undelete")

# Predefined roles, limited to the permissions the emulator knows. Sources: the role and
# permission index, cloud.google.com/iam/docs/roles-permissions/{iam,resourcemanager,serviceusage}
# and cloud.google.com/iam/docs/understanding-roles#basic (basic roles: Editor cannot manage
# roles and permissions, so has no setIamPolicy and no custom-role writes).
PREDEFINED_ROLES: dict[str, frozenset[str]] = {
    "roles/owner": KNOWN_PERMISSIONS,
    "roles/editor": frozenset(p for p in KNOWN_PERMISSIONS if p not in _SET_POLICY + _ROLE_WRITES),
    "roles/viewer": frozenset(p for p in KNOWN_PERMISSIONS if p.endswith(_READ_SUFFIXES)),
    "roles/browser": frozenset({"resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy"}),
    "roles/iam.workloadIdentityPoolAdmin": _having("iam.workloadIdentityPools.", "iam.workloadIdentityPoolProviders.")
    | {"resourcemanager.projects.get"},
    "roles/iam.workloadIdentityPoolViewer": frozenset({
        "iam.workloadIdentityPools.get", "iam.workloadIdentityPools.list",
        "iam.workloadIdentityPoolProviders.get", "iam.workloadIdentityPoolProviders.list"}),
    "roles/iam.serviceAccountAdmin": _having("iam.serviceAccounts.") | {"resourcemanager.projects.get"},
    "roles/iam.roleAdmin": _having("iam.roles.") | {"resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy"},
    "roles/serviceusage.serviceUsageAdmin": _having("serviceusage.") | {"resourcemanager.projects.get"},
    "roles/serviceusage.serviceUsageViewer": frozenset({
        "serviceusage.services.get", "serviceusage.services.list", "serviceusage.operations.get",
        "resourcemanager.projects.get"}),
    # Vertex AI User also holds resourcemanager.projects.get (roles-permissions/aiplatform).
    "roles/aiplatform.user": frozenset({"resourcemanager.projects.get"}),
    "roles/resourcemanager.projectIamAdmin": frozenset({
        "resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy",
        "resourcemanager.projects.setIamPolicy"}),
}


def denied(permission: str, host: str, resource: str) -> GoogleError:
    """Google's answer: the message names the permission and the full resource name; ErrorInfo
    IAM_PERMISSION_DENIED carries both (as gcloud prints it)."""
    return GoogleError(
        403,
        f"Permission '{permission}' denied on resource '//{host}.googleapis.com/{resource}' (or it may not exist).",
        "PERMISSION_DENIED",
        [error_info("IAM_PERMISSION_DENIED", "iam.googleapis.com", permission=permission, resource=resource)],
    )


def custom_roles(app: Any) -> dict[str, dict[str, Any]]:
    """The custom roles of every project, by full name (projects/P/roles/R)."""
    roles: dict[str, dict[str, Any]] = app.state.data.setdefault("custom_roles", {})
    return roles


def _custom_role_permissions(app: Any, name: str, project_id: str, delay: float) -> frozenset[str]:
    """A custom role of the project as enforcement sees it (late by ``delay``); a deleted role
    grants nothing (its bindings stay but are inactive, as Google documents)."""
    if not name.startswith(f"projects/{project_id}/roles/"):
        return frozenset()  # another project's (or an organization's) role: not the emulator's
    rec = custom_roles(app).get(name)
    if rec is None:
        return frozenset()
    seen = consistency.lagged(rec, app.now(), delay, consistency.snapshot(rec))
    if seen is consistency.ABSENT or seen.get("deleted"):
        return frozenset()
    return frozenset(seen.get("includedPermissions", []))


def role_permissions(app: Any, role: str, project_id: str, delay: float) -> frozenset[str]:
    if role in PREDEFINED_ROLES:
        return PREDEFINED_ROLES[role]
    return _custom_role_permissions(app, role, project_id, delay)


def _policies(app: Any, route_name: str, p: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """The project whose policy applies, and the policies to consult (project; for a route on a
    service account also the account's own policy, the resource-level one)."""
    proj = app.state.project(p.get("project", ""))
    if proj is None and route_name == "serviceusage.operations.get":
        m = _OP_PROJECT_RE.match(p["op"])
        proj = app.state.project(m["number"]) if m else None
    if proj is None:
        return "", []
    out = [proj["iam_policy"]]
    if "sa" in p:
        # The account by email or uniqueId, as iam_sa.find_sa (which this module cannot import:
        # iam_sa imports app, which imports this module).
        out.extend(sa["iam_policy"] for sa in app.state.data["service_accounts"].values()
                   if p["sa"] in (sa["email"], sa["uniqueId"]) and not sa.get("_deleted"))
    return proj["id"], out


def require(app: Any, route_name: str, p: dict[str, str], email: str) -> None:
    """403 unless ``serviceAccount:email`` holds the route's permission (raise before any change)."""
    entry = ROUTE_PERMISSIONS.get(route_name)
    if entry is None:
        raise GoogleError(403, f"The caller does not have permission for {route_name}.", "PERMISSION_DENIED")
    permission, host, resource_of = entry
    resource = resource_of(p)
    project_id, policies = _policies(app, route_name, p)
    delay = app.config.consistency.iam_propagation_seconds
    now = app.now()
    member = f"serviceAccount:{email}"
    for stored in policies:
        policy = pol.enforced(stored, now, delay)
        roles = {b["role"] for b in policy["bindings"]
                 if member in b["members"] and permission in role_permissions(app, b["role"], project_id, delay)}
        if roles and pol.holds(policy, roles, {member}, resource, now):
            return
    raise denied(permission, host, resource)
