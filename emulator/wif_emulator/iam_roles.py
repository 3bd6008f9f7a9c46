"""IAM v1 project custom roles (projects.roles create/get/list/patch/delete/undelete), minimally.

Google: cloud.google.com/iam/docs/reference/rest/v1/projects.roles (Role: name, title,
description, includedPermissions, stage, etag, deleted); role IDs are 3-64 of [a-zA-Z0-9_.];
a deleted role stays (deleted: true) and its bindings are inactive until undeleted. A custom role
grants its permissions through the project policy (permissions.py), with the same
iam_propagation_seconds lag as bindings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from . import consistency
from .app import App, Request, Response, json_response, route
from .common import page, parse_mask, project_or_error, truthy
from .errors import GoogleError, already_exists, bad_request, failed_precondition, not_found
from .permissions import KNOWN_PERMISSIONS, custom_roles
from .serviceusage import require_service

ROLE_ID_RE = re.compile(r"[a-zA-Z0-9_.]{3,64}")
STAGES = ("ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP")
ROLE_MASK = ["title", "description", "includedPermissions", "stage"]


def _etag(rec: dict[str, Any]) -> str:
    body = json.dumps({k: rec.get(k) for k in ("title", "description", "includedPermissions", "stage", "deleted")},
                      sort_keys=True)
    return base64.b64encode(hashlib.sha256(body.encode()).digest()[:8]).decode()


def _view(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rec["name"], "title": rec["title"], "stage": rec["stage"],
                           "includedPermissions": list(rec["includedPermissions"]), "etag": _etag(rec)}
    if rec.get("description"):
        out["description"] = rec["description"]
    if rec.get("deleted"):
        out["deleted"] = True
    return out


def _check_role(body: Any, fields: list[str]) -> dict[str, Any]:
    """The role's fields, checked: each bad one named (field and rule), before any change."""
    if not isinstance(body, dict):
        raise bad_request("role", "must be an object")
    out: dict[str, Any] = {}
    if "title" in fields:
        title = body.get("title", "")
        if not isinstance(title, str) or len(title) > 100:
            raise bad_request("role.title", "must be a string of at most 100 characters")
        out["title"] = title
    if "description" in fields:
        desc = body.get("description", "")
        if not isinstance(desc, str) or len(desc) > 300:
            raise bad_request("role.description", "must be a string of at most 300 characters")
        out["description"] = desc
    if "stage" in fields:
        stage = body.get("stage") or "ALPHA"  # Google's default launch stage
        if stage not in STAGES:
            raise bad_request("role.stage", f"must be one of {', '.join(STAGES)}")
        out["stage"] = stage
    if "includedPermissions" in fields:
        perms = body.get("includedPermissions", [])
        if not isinstance(perms, list) or not all(isinstance(x, str) for x in perms):
            raise bad_request("role.includedPermissions", "must be a list of permission names")
        unknown = sorted(set(perms) - KNOWN_PERMISSIONS)
        if unknown:
            # Google refuses permissions it does not know ("Permission X is not valid."); the
            # emulator knows only those it checks, so a typo fails here, as on Google.
            raise GoogleError(400, f"Permission {unknown[0]} is not valid.", "INVALID_ARGUMENT",
                              bad_request("role.includedPermissions", f"unknown permission(s) {unknown}").details)
        out["includedPermissions"] = sorted(set(perms))
    return out


def _name(proj: dict[str, Any], role_id: str) -> str:
    return f"projects/{proj['id']}/roles/{role_id}"


def _role_or_404(app: App, p: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    proj = project_or_error(app, p["project"])
    require_service(app, proj, "iam.googleapis.com")
    rec = custom_roles(app).get(_name(proj, p["role"]))
    if rec is None:
        raise not_found(f"The role named {_name(proj, p['role'])} was not found.")
    return proj, rec


def create(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    require_service(app, proj, "iam.googleapis.com")
    body = req.json()
    role_id = body.get("roleId")
    if not isinstance(role_id, str) or not ROLE_ID_RE.fullmatch(role_id):
        raise bad_request("roleId", "a role ID is 3-64 characters of letters, digits, underscores and periods")
    fields = _check_role(body.get("role") or {}, ROLE_MASK)
    name = _name(proj, role_id)
    roles = custom_roles(app)
    if name in roles:
        # A deleted role keeps its ID too (until Google purges it).
        raise already_exists(f"A role named {role_id} in projects/{proj['id']} already exists.")
    rec = {"name": name, "deleted": False, **fields}
    roles[name] = rec
    consistency.remember(rec, app.now(), consistency.snapshot(rec))
    return json_response(_view(rec))


def _record_change(app: App, rec: dict[str, Any]) -> None:
    """Enforcement sees the change iam_propagation_seconds later (as a binding change)."""
    consistency.remember(rec, app.now(), consistency.snapshot(rec))


def get(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(_view(_role_or_404(app, p)[1]))


def list_roles(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    require_service(app, proj, "iam.googleapis.com")
    prefix = f"projects/{proj['id']}/roles/"
    show_deleted = truthy(req.q("showDeleted"))
    items = [_view(r) for n, r in sorted(custom_roles(app).items())
             if n.startswith(prefix) and (show_deleted or not r.get("deleted"))]
    chunk, nxt = page(items, req, default_size=300, max_size=1000)
    out: dict[str, Any] = {"roles": chunk} if chunk else {}
    if nxt:
        out["nextPageToken"] = nxt
    return json_response(out)


def patch(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, rec = _role_or_404(app, p)
    mask = parse_mask(req.q("updateMask"), ROLE_MASK)
    body = req.json()
    fields = _check_role(body, mask)
    etag = body.get("etag")
    if etag and etag != _etag(rec):
        raise GoogleError(409, "There were concurrent policy changes. Please retry the whole "
                          "read-modify-write with exponential backoff.", "ABORTED")
    if rec.get("deleted"):
        raise failed_precondition(f"You can't update a deleted role: {rec['name']}.")
    rec.update(fields)
    _record_change(app, rec)
    return json_response(_view(rec))


def delete(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, rec = _role_or_404(app, p)
    if rec.get("deleted"):
        raise failed_precondition(f"The role {rec['name']} is already deleted.")
    rec["deleted"] = True
    _record_change(app, rec)
    return json_response(_view(rec))


def undelete(app: App, req: Request, p: dict[str, str]) -> Response:
    _proj, rec = _role_or_404(app, p)
    if not rec.get("deleted"):
        raise failed_precondition(f"The role {rec['name']} is not deleted.")
    rec["deleted"] = False
    _record_change(app, rec)
    return json_response(_view(rec))


_R = r"/v1/projects/(?P<project>[^/:]+)/roles"
_RR = _R + r"/(?P<role>[^/:]+)"
_N = "iam.projects.roles"
ROUTES = [
    route(f"{_N}.list", "GET", _R, "read", "admin", list_roles),
    route(f"{_N}.create", "POST", _R, "write", "admin", create),
    route(f"{_N}.get", "GET", _RR, "read", "admin", get),
    route(f"{_N}.patch", "PATCH", _RR, "write", "admin", patch),
    route(f"{_N}.delete", "DELETE", _RR, "write", "admin", delete),
    route(f"{_N}.undelete", "POST", _RR + ":undelete", "write", "admin", undelete),
]
