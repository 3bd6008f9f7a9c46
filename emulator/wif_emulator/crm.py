"""Cloud Resource Manager v1: projects.get and the project IAM policy."""

from __future__ import annotations

from . import policy as pol
from .app import App, Request, Response, json_response, route
from .common import project_or_error, rfc3339
from .iam_sa import refuse_unseen_accounts


def get_project(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"], for_crm=True)
    return json_response({
        "projectNumber": proj["number"],
        "projectId": proj["id"],
        "lifecycleState": "ACTIVE",
        "name": proj["id"],
        "createTime": rfc3339(proj["create_time"]),
    })


def get_iam_policy(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"], for_crm=True)
    version = (req.json().get("options") or {}).get("requestedPolicyVersion")
    return json_response(pol.view(proj["iam_policy"], version))


def set_iam_policy(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"], for_crm=True)
    forced = app.consume_fault(req, "etag_conflict") is not None
    return json_response(pol.set_policy(proj["iam_policy"], req.json(), "project", app.state.next_etag(),
                                        forced, now=app.now(), check_bindings=refuse_unseen_accounts(app)))


_P = r"/v1/projects/(?P<project>[^/:]+)"
ROUTES = [
    route("cloudresourcemanager.projects.get", "GET", _P, "read", "admin", get_project),
    route("cloudresourcemanager.projects.getIamPolicy", "POST", _P + ":getIamPolicy", "read", "admin",
          get_iam_policy),
    route("cloudresourcemanager.projects.setIamPolicy", "POST", _P + ":setIamPolicy", "write", "admin",
          set_iam_policy),
]
