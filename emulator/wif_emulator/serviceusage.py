"""Service Usage v1: services get/list/batchGet/enable/disable/batchEnable and their operations."""

from __future__ import annotations

from typing import Any

from .app import App, Request, Response, json_response, route
from .common import page, project_or_error
from .consistency import SINCE_EVER
from .errors import GoogleError, bad_request, error_info, service_disabled

# The catalogue the emulator knows; anything else is "not found or permission denied".
SERVICES = {
    "aiplatform.googleapis.com": "Vertex AI API",
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "compute.googleapis.com": "Compute Engine API",
    "generativelanguage.googleapis.com": "Generative Language API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
    "iamcredentials.googleapis.com": "IAM Service Account Credentials API",
    "logging.googleapis.com": "Cloud Logging API",
    "monitoring.googleapis.com": "Cloud Monitoring API",
    "serviceusage.googleapis.com": "Service Usage API",
    "storage.googleapis.com": "Cloud Storage API",
    "sts.googleapis.com": "Security Token Service API",
}
OP_METADATA = "type.googleapis.com/google.protobuf.Empty"
# When each service was last enabled (services seeded by the config have been on since ever).
ENABLED_AT = "_service_enabled_at"
# google.rpc.Code FAILED_PRECONDITION: the code of the failed 160009 operation (a best guess;
# Terraform's ServiceUsageInternalError160009 matches the message only).
FAILED_PRECONDITION_CODE = 9


def known(app: App, service: str) -> bool:
    if service in SERVICES:
        return True
    return any(service in p["services"] for p in app.state.data["projects"].values())


def require_service(app: App, proj: dict[str, Any], service: str) -> None:
    """Google refuses calls whose API is not enabled in the consumer project, and for
    ``service_enablement_seconds`` after it was enabled ("If you enabled this API recently, wait
    a few minutes for the action to propagate to our systems and retry.")."""
    if not app.config.require_enabled_services:
        return
    enabled_since = proj.get(ENABLED_AT, {}).get(service, SINCE_EVER)
    propagated = app.now() >= enabled_since + app.config.consistency.service_enablement_seconds
    if proj["services"].get(service) != "ENABLED" or not propagated:
        raise service_disabled(service, SERVICES.get(service, service), proj["number"])


def _set_enabled(app: App, proj: dict[str, Any], service: str) -> None:
    if proj["services"].get(service) != "ENABLED":  # enabling an enabled service changes nothing
        proj["services"][service] = "ENABLED"
        proj.setdefault(ENABLED_AT, {})[service] = app.now()


def _set_disabled(proj: dict[str, Any], service: str) -> None:
    proj["services"][service] = "DISABLED"
    proj.get(ENABLED_AT, {}).pop(service, None)


def _not_found(services: list[str], project_ref: str) -> GoogleError:
    joined = ", ".join(services)
    return GoogleError(
        403, f"Not found or permission denied for service(s): {joined}.", "PERMISSION_DENIED",
        [error_info("SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED", "serviceusage.googleapis.com",
                    services=joined, consumer=f"projects/{project_ref}")])


def _service_view(proj: dict[str, Any], service: str) -> dict[str, Any]:
    return {
        "name": f"projects/{proj['number']}/services/{service}",
        "config": {"name": service, "title": SERVICES.get(service, service)},
        "state": proj["services"].get(service, "DISABLED"),
        "parent": f"projects/{proj['number']}",
    }


def get_service(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    if not known(app, p["service"]):
        raise _not_found([p["service"]], p["project"])
    return json_response(_service_view(proj, p["service"]))


def list_services(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    flt = (req.q("filter") or "").replace(" ", "")
    names = sorted(set(SERVICES) | set(proj["services"]))
    views = [_service_view(proj, s) for s in names]
    if flt:
        if flt not in ("state:ENABLED", "state:DISABLED"):
            raise bad_request("filter", "only state:ENABLED or state:DISABLED is supported")
        views = [v for v in views if v["state"] == flt.split(":")[1]]
    chunk, nxt = page(views, req)
    out: dict[str, Any] = {"services": chunk} if chunk else {}
    if nxt:
        out["nextPageToken"] = nxt
    return json_response(out)


def _op_name(app: App, proj: dict[str, Any]) -> str:
    return f"operations/acf.p2-{proj['number']}-{app.op_id()}"


def _op(app: App, req: Request, proj: dict[str, Any], kind: str, response: dict[str, Any]) -> Response:
    response = dict({"@type": f"type.googleapis.com/google.api.serviceusage.v1.{kind}"}, **response)
    return json_response(app.new_operation(req, _op_name(app, proj), OP_METADATA, response))


def _injected_error(app: App, req: Request, proj: dict[str, Any], services: list[str]) -> Response | None:
    """The Service Usage errors Terraform retries (fault ``service_usage_error``); None: no fault.

    "in_progress": 400 FAILED_PRECONDITION at call time (ServiceUsageServiceBeingActivated
    matches "Another activation or deactivation is in progress"); "160009": an Operation that
    fails, nothing enabled (ServiceUsageInternalError160009 matches "encountered internal
    error", "160009" and "with failed services").
    """
    rule = app.consume_fault(req, "service_usage_error")
    if rule is None:
        return None
    if rule["error"] == "in_progress":
        raise GoogleError(400, f"Another activation or deactivation is in progress for the following "
                          f"service(s): {', '.join(services)} and project {proj['id']}.",
                          "FAILED_PRECONDITION")
    failed = " ".join(f'[service {s} encountered internal error: type: "googleapis.com" subject: "160009" ]'
                      for s in services)
    error = {"code": FAILED_PRECONDITION_CODE, "message": f"{failed} with failed services [{' '.join(services)}]"}
    return json_response(app.new_operation(req, _op_name(app, proj), OP_METADATA, None, error=error))


def enable(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    if not known(app, p["service"]):
        raise _not_found([p["service"]], p["project"])
    failed = _injected_error(app, req, proj, [p["service"]])
    if failed is not None:
        return failed
    _set_enabled(app, proj, p["service"])
    return _op(app, req, proj, "EnableServiceResponse", {"service": _service_view(proj, p["service"])})


def disable(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    if not known(app, p["service"]):
        raise _not_found([p["service"]], p["project"])
    body = req.json()
    failed = _injected_error(app, req, proj, [p["service"]])
    if failed is not None:
        return failed
    # Google refuses to disable a service others depend on unless asked to cascade.
    dependants = {"iam.googleapis.com": ["iamcredentials.googleapis.com"]}.get(p["service"], [])
    enabled_deps = [d for d in dependants if proj["services"].get(d) == "ENABLED"]
    if enabled_deps and not body.get("disableDependentServices"):
        raise GoogleError(400, f"The service {p['service']} is depended on by the following active "
                          f"service(s): {', '.join(enabled_deps)}; Please specify "
                          "disable_dependent_services=true if you want to proceed with "
                          "disabling all services.", "FAILED_PRECONDITION")
    for d in enabled_deps:
        _set_disabled(proj, d)
    _set_disabled(proj, p["service"])
    return _op(app, req, proj, "DisableServiceResponse", {"service": _service_view(proj, p["service"])})


def batch_enable(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    ids = req.json().get("serviceIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(s, str) for s in ids):
        raise bad_request("serviceIds", "a non-empty list of service names is required")
    if len(ids) > 20:
        raise bad_request("serviceIds", "at most 20 services per batchEnable call")
    unknown = [s for s in ids if not known(app, s)]
    if unknown:
        raise _not_found(unknown, p["project"])
    failed = _injected_error(app, req, proj, ids)
    if failed is not None:
        return failed
    for s in ids:
        _set_enabled(app, proj, s)
    return _op(app, req, proj, "BatchEnableServicesResponse",
               {"services": [_service_view(proj, s) for s in ids]})


# Service Usage v1 BatchGetServicesRequest: "A single request can get a maximum of 30 services
# at a time"; "the parent of all of the services specified in names must match this field".
BATCH_GET_MAX = 30


def batch_get(app: App, req: Request, p: dict[str, str]) -> Response:
    proj = project_or_error(app, p["project"])
    names = req.query.get("names") or []
    if not names:
        raise bad_request("names", "at least one service name is required")
    if len(names) > BATCH_GET_MAX:
        raise bad_request("names", f"at most {BATCH_GET_MAX} services per batchGet call, got {len(names)}")
    prefix = f"projects/{p['project']}/services/"
    services = []
    for name in names:
        service = name[len(prefix):] if name.startswith(prefix) else ""
        if not service or "/" in service:
            raise bad_request("names", f"{name!r} is not a service of the parent projects/{p['project']} "
                              f"(expected {prefix}SERVICE)")
        services.append(service)
    unknown = [s for s in services if not known(app, s)]
    if unknown:
        raise _not_found(unknown, p["project"])
    return json_response({"services": [_service_view(proj, s) for s in services]})


def get_operation(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(app.get_operation("operations/" + p["op"]))


_P = r"/v1/projects/(?P<project>[^/:]+)/services"
ROUTES = [
    route("serviceusage.services.list", "GET", _P, "read", "admin", list_services),
    route("serviceusage.services.batchEnable", "POST", _P + ":batchEnable", "write", "admin", batch_enable),
    route("serviceusage.services.batchGet", "GET", _P + ":batchGet", "read", "admin", batch_get),
    route("serviceusage.services.get", "GET", _P + r"/(?P<service>[^/:]+)", "read", "admin", get_service),
    route("serviceusage.services.enable", "POST", _P + r"/(?P<service>[^/:]+):enable", "write", "admin", enable),
    route("serviceusage.services.disable", "POST", _P + r"/(?P<service>[^/:]+):disable", "write", "admin", disable),
    route("serviceusage.operations.get", "GET", r"/v1/operations/(?P<op>[^/]+)", "read", "admin", get_operation),
]
