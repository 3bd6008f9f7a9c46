"""IAM v1 service accounts and their IAM policies."""

from __future__ import annotations

import re
from typing import Any

from . import policy as pol
from .app import App, Request, Response, json_response, route
from .common import SOFT_DELETE_SECONDS, page, parse_mask, project_or_error
from .consistency import SINCE_EVER
from .errors import GoogleError, already_exists, bad_request, failed_precondition, not_found
from .serviceusage import require_service

ACCOUNT_ID_RE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
SA_MASK = ["displayName", "description"]


def _view(sa: dict[str, Any]) -> dict[str, Any]:
    out = {k: sa[k] for k in ("name", "projectId", "uniqueId", "email", "etag", "oauth2ClientId")}
    for k in ("displayName", "description"):
        if sa.get(k):
            out[k] = sa[k]
    if sa.get("disabled"):
        out["disabled"] = True
    return out


def find_sa(app: App, ref: str, include_deleted: bool = False) -> dict[str, Any] | None:
    """Look up by email or uniqueId (ignoring the project segment, as Google does for '-')."""
    now = app.now()
    accounts = app.state.data["service_accounts"]
    for uid in [u for u, s in accounts.items() if s.get("_purge_at") and s["_purge_at"] < now]:
        del accounts[uid]
    if ref in accounts:
        sa = accounts[ref]
        return sa if include_deleted or not sa.get("_deleted") else None
    for sa in accounts.values():
        if sa["email"] == ref and not sa.get("_deleted"):
            return sa
    return None


def visible(app: App, sa: dict[str, Any]) -> bool:
    """A new account is not at once visible: "After you create a service account, you might
    need to wait for 60 seconds or more before you use the service account." (IAM docs)."""
    created = sa.get("_created", SINCE_EVER)
    return app.now() >= created + app.config.consistency.service_account_visibility_seconds


def sa_or_404(app: App, p: dict[str, str]) -> dict[str, Any]:
    """The account of the path; 404 also while a new one is not yet visible (every method on
    it, not only GET: stricter than needed, never kinder)."""
    if p["project"] != "-":
        project_or_error(app, p["project"])
    sa = find_sa(app, p["sa"])
    if sa is None or not visible(app, sa):
        raise not_found(f"Service account projects/{p['project']}/serviceAccounts/{p['sa']} "
                        "does not exist.")
    proj = app.state.project(sa["projectId"])
    if proj is not None:
        require_service(app, proj, "iam.googleapis.com")
    return sa


def create(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    require_service(app, proj, "iam.googleapis.com")
    body = req.json()
    account_id = body.get("accountId")
    if not isinstance(account_id, str) or not account_id:
        raise bad_request("account_id", "accountId is required")
    if not (6 <= len(account_id) <= 30) or not ACCOUNT_ID_RE.fullmatch(account_id):
        raise bad_request("account_id", f"Account ID '{account_id}' must be 6-30 characters, start "
                          "with a lowercase letter, and contain only lowercase letters, digits and "
                          "hyphens, not ending with a hyphen: [a-z]([-a-z0-9]*[a-z0-9])")
    sa_body = body.get("serviceAccount") or {}
    if not isinstance(sa_body, dict):
        raise bad_request("service_account", "must be an object")
    _check_fields(sa_body, SA_MASK)
    email = f"{account_id}@{proj['id']}.iam.gserviceaccount.com"
    if find_sa(app, email) is not None:
        raise already_exists(f"Service account {account_id} already exists within project "
                             f"projects/{proj['id']}.")
    uid = app.state.new_unique_id()
    sa = {"name": f"projects/{proj['id']}/serviceAccounts/{email}", "projectId": proj["id"],
          "uniqueId": uid, "email": email, "oauth2ClientId": uid, "etag": "MDEwMjE5MjA=",
          "displayName": sa_body.get("displayName", ""), "description": sa_body.get("description", ""),
          "disabled": False, "iam_policy": pol.empty_policy(), "_created": app.now()}
    app.state.data["service_accounts"][uid] = sa
    return json_response(_view(sa))


def _check_fields(body: dict[str, Any], fields: list[str]) -> None:
    dn, desc = body.get("displayName"), body.get("description")
    if "displayName" in fields and dn is not None and (not isinstance(dn, str) or len(dn) > 100):
        raise bad_request("display_name", "must be a string of at most 100 characters")
    if "description" in fields and desc is not None and (not isinstance(desc, str) or len(desc) > 256):
        raise bad_request("description", "must be a string of at most 256 characters")


def get(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(_view(sa_or_404(app, p)))


def list_accounts(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    require_service(app, proj, "iam.googleapis.com")
    # A new account is left out of the list too while it is not visible.
    items = sorted((s for s in app.state.data["service_accounts"].values()
                    if s["projectId"] == proj["id"] and not s.get("_deleted") and visible(app, s)),
                   key=lambda s: s["email"])
    chunk, nxt = page([_view(s) for s in items], req, default_size=20, max_size=100)
    out: dict[str, Any] = {"accounts": chunk} if chunk else {}
    if nxt:
        out["nextPageToken"] = nxt
    return json_response(out)


def patch(app: App, req: Request, p: dict[str, str]) -> Response:
    sa = sa_or_404(app, p)
    body = req.json()
    # The service-account patch carries its mask in the BODY, not the query.
    mask = parse_mask(body.get("updateMask"), SA_MASK)
    new = body.get("serviceAccount") or {}
    if not isinstance(new, dict):
        raise bad_request("service_account", "must be an object")
    _check_fields(new, mask)
    for f in mask:
        sa[f] = new.get(f) or ""
    return json_response(_view(sa))


def delete(app: App, req: Request, p: dict[str, str]) -> Response:
    sa = sa_or_404(app, p)
    sa["_deleted"] = True
    sa["_purge_at"] = app.now() + SOFT_DELETE_SECONDS
    return json_response({})


def undelete(app: App, req: Request, p: dict[str, str]) -> Response:
    # Only the uniqueId finds a deleted account: its email may already name a new one.
    sa = find_sa(app, p["sa"], include_deleted=True)
    if sa is None or p["sa"] != sa["uniqueId"]:
        raise not_found(f"Service account {p['sa']} does not exist; undelete needs the uniqueId.")
    if not sa.get("_deleted"):
        raise failed_precondition(f"Service account {sa['email']} is not deleted.")
    if find_sa(app, sa["email"]) is not None:
        raise failed_precondition(f"Cannot undelete {sa['email']}: an account with that email exists.")
    sa["_deleted"] = False
    sa.pop("_purge_at", None)
    return json_response({"restoredAccount": _view(sa)})


def set_disabled(value: bool):
    def handler(app: App, req: Request, p: dict[str, str]) -> Response:
        sa = sa_or_404(app, p)
        sa["disabled"] = value
        return json_response({})
    return handler


def get_iam_policy(app: App, req: Request, p: dict[str, str]) -> Response:
    sa = sa_or_404(app, p)
    # IAM v1 sends the version as a query parameter; accept the CRM-style body as well.
    version = req.q("options.requestedPolicyVersion") or (req.json().get("options") or {}).get("requestedPolicyVersion")
    return json_response(pol.view(sa["iam_policy"], version))


def set_iam_policy(app: App, req: Request, p: dict[str, str]) -> Response:
    sa = sa_or_404(app, p)
    forced = app.consume_fault(req, "etag_conflict") is not None
    new = pol.set_policy(sa["iam_policy"], req.json(), "serviceAccount", app.state.next_etag(), forced,
                         now=app.now(), check_bindings=refuse_unseen_accounts(app))
    return json_response(new)


def _unseen(app: App, email: str) -> bool:
    """True for an account of an emulated project that IAM cannot see: never created, or
    created less than service_account_visibility_seconds ago. A deleted one still counts as
    seen (Google keeps such members, as deleted:serviceAccount:…, which the emulator does not
    model); accounts of other projects and Google's service agents are not the emulator's to judge."""
    local, _, domain = email.partition("@")
    project_id = domain.removesuffix(".iam.gserviceaccount.com")
    if not local or project_id == domain or project_id not in app.state.data["projects"]:
        return False
    sa = find_sa(app, email)
    if sa is not None:
        return not visible(app, sa)
    accounts = app.state.data["service_accounts"].values()
    return not any(a["email"] == email for a in accounts)  # never created (none deleted either)


def refuse_unseen_accounts(app: App):
    """A setIamPolicy naming an account IAM cannot see fails as on Google (Terraform's
    IamServiceAccountNotFound retries this 400)."""
    def check(bindings: list[dict[str, Any]]) -> None:
        for binding in bindings:
            for member in binding["members"]:
                email = member.split(":", 1)[1] if member.startswith("serviceAccount:") else ""
                if email and _unseen(app, email):
                    raise GoogleError(400, f"Service account {email} does not exist.", "INVALID_ARGUMENT")
    return check


def resource_name(sa: dict[str, Any]) -> str:
    return f"projects/{sa['projectId']}/serviceAccounts/{sa['email']}"


def require_active(sa: dict[str, Any] | None) -> dict[str, Any]:
    if sa is None:
        raise GoogleError(404, "Not found; Gaia id not found for email", "NOT_FOUND")
    return sa


_S = r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts"
_SA = _S + r"/(?P<sa>[^/:]+)"
_N = "iam.projects.serviceAccounts"
ROUTES = [
    route(f"{_N}.list", "GET", _S, "read", "admin", list_accounts),
    route(f"{_N}.create", "POST", _S, "write", "admin", create),
    route(f"{_N}.get", "GET", _SA, "read", "admin", get),
    route(f"{_N}.patch", "PATCH", _SA, "write", "admin", patch),
    route(f"{_N}.delete", "DELETE", _SA, "write", "admin", delete),
    route(f"{_N}.undelete", "POST", _SA + ":undelete", "write", "admin", undelete),
    route(f"{_N}.disable", "POST", _SA + ":disable", "write", "admin", set_disabled(True)),
    route(f"{_N}.enable", "POST", _SA + ":enable", "write", "admin", set_disabled(False)),
    route(f"{_N}.getIamPolicy", "POST", _SA + ":getIamPolicy", "read", "admin", get_iam_policy),
    route(f"{_N}.setIamPolicy", "POST", _SA + ":setIamPolicy", "write", "admin", set_iam_policy),
]
