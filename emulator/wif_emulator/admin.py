"""The emulator's own surface under /_emulator/ (no Google auth) and the AWS STS Query API."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from . import aws
from .app import App, Request, Response, json_response, route
from .aws import web_identity
from .config import ConfigError, parse_consistency, parse_tokens
from .errors import GoogleError

FAULT_ACTIONS = ("status", "latency_ms", "etag_conflict", "slow_operation_polls", "commit_then_fail",
                 "service_usage_error")
SERVICE_USAGE_ERRORS = ("160009", "in_progress")


def _bad(msg: str) -> GoogleError:
    return GoogleError(400, f"fault rule: {msg}", "INVALID_ARGUMENT")


def parse_fault(body: dict[str, Any], route_names: set[str]) -> dict[str, Any]:
    """Validate one fault rule; see docs/emulator.md for the format."""
    unknown = sorted(set(body) - {"method", "path", "route", "count", "message", *FAULT_ACTIONS})
    if unknown:
        raise _bad(f"unknown key(s) {unknown}")
    acts = [a for a in FAULT_ACTIONS if a in body]
    if len(acts) != 1:
        raise _bad(f"exactly one of {', '.join(FAULT_ACTIONS)} is required")
    rule: dict[str, Any] = {}
    if "method" in body:
        if body["method"] not in ("GET", "POST", "PATCH", "DELETE", "PUT"):
            raise _bad("method must be GET, POST, PATCH, PUT or DELETE")
        rule["method"] = body["method"]
    if "path" in body:
        try:
            re.compile(body["path"])
        except (re.error, TypeError) as exc:
            raise _bad(f"path must be a regular expression: {exc}") from exc
        rule["path_re"] = body["path"]
    if "route" in body:
        if body["route"] not in route_names:
            raise _bad(f"unknown route {body['route']!r}; see GET /_emulator/routes")
        rule["route"] = body["route"]
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100000:
        raise _bad("count must be an integer from 1 to 100000")
    rule["remaining"] = count
    act = acts[0]
    val = body[act]
    if act == "status":
        if val not in (429, 500, 503):
            raise _bad("status must be 429, 500 or 503")
        rule.update(action="status", status=val)
        if body.get("message"):
            rule["message"] = str(body["message"])
    elif act == "latency_ms":
        if not isinstance(val, int) or isinstance(val, bool) or not 0 <= val <= 60000:
            raise _bad("latency_ms must be an integer from 0 to 60000")
        rule.update(action="latency", latency_ms=val)
    elif act == "etag_conflict":
        if val is not True:
            raise _bad("etag_conflict must be true")
        rule.update(action="etag_conflict")
    elif act == "commit_then_fail":
        if not (val == "reset" or (type(val) is int and val == 503)):
            raise _bad('commit_then_fail must be 503 or "reset"')
        rule.update(action="commit_then_fail", then=val)
    elif act == "service_usage_error":
        if val not in SERVICE_USAGE_ERRORS:
            raise _bad('service_usage_error must be "160009" or "in_progress"')
        rule.update(action="service_usage_error", error=val)
    else:
        if not isinstance(val, int) or isinstance(val, bool) or not 1 <= val <= 1000:
            raise _bad("slow_operation_polls must be an integer from 1 to 1000")
        rule.update(action="slow_operation", polls=val)
    return rule


def healthz(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response({"status": "ok"})


def stats(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response(app.stats_snapshot())


def routes_list(app: App, req: Request, p: dict[str, str]) -> Response:
    return json_response({"routes": [{"name": r.name, "method": r.method, "kind": r.kind,
                                      "pattern": r.pattern.pattern} for r in app.routes
                                     if r.kind != "admin"]})


def reset(app: App, req: Request, p: dict[str, str]) -> Response:
    body = req.json()
    app.reset_counters()
    with app.lock:
        if body.get("state"):
            app.faults.clear()
            app.state.reset()
    return json_response({"reset": "state" if body.get("state") else "counters"})


def add_fault(app: App, req: Request, p: dict[str, str]) -> Response:
    rule = parse_fault(req.json(), {r.name for r in app.routes})
    return json_response(app.add_fault(rule))


def list_faults(app: App, req: Request, p: dict[str, str]) -> Response:
    with app.lock:
        return json_response({"faults": [dict(f) for f in app.faults]})


def clear_faults(app: App, req: Request, p: dict[str, str]) -> Response:
    with app.lock:
        n = len(app.faults)
        app.faults.clear()
    return json_response({"cleared": n})


def _runtime_settings(section: str, parse: Any):
    """GET answers the section's current values; POST replaces any subset of them (validated as
    in the config file) and answers the full new values."""
    def get(app: App, req: Request, p: dict[str, str]) -> Response:
        with app.lock:
            return json_response(dataclasses.asdict(getattr(app.config, section)))

    def post(app: App, req: Request, p: dict[str, str]) -> Response:
        body = req.json()
        with app.lock:
            try:
                new = parse(body, getattr(app.config, section))
            except ConfigError as exc:
                raise GoogleError(400, str(exc).removeprefix("config: "), "INVALID_ARGUMENT") from exc
            setattr(app.config, section, new)
            return json_response(dataclasses.asdict(new))
    return get, post


consistency_get, consistency_post = _runtime_settings("consistency", parse_consistency)
tokens_get, tokens_post = _runtime_settings("tokens", parse_tokens)


def dump_state(app: App, req: Request, p: dict[str, str]) -> Response:
    with app.lock:
        return json_response(app.state.dump())


def aws_credentials(app: App, req: Request, p: dict[str, str]) -> Response:
    body = req.json()
    account_id = body.get("account_id")
    role = body.get("role_name")
    acct = app.config.aws_account(account_id) if isinstance(account_id, str) else None
    if acct is None:
        raise GoogleError(400, f"account_id {account_id!r} is not one of aws.accounts in the config",
                          "INVALID_ARGUMENT")
    if role not in acct.roles:
        raise GoogleError(400, f"role_name {role!r} is not a role of account {account_id} in the "
                          "config", "INVALID_ARGUMENT")
    session = body.get("session_name", "emulator-session")
    ttl = body.get("ttl_seconds", app.config.credential_ttl_seconds)
    partition = body.get("partition", "aws")
    if partition not in aws.PARTITIONS:
        raise GoogleError(400, f"partition {partition!r} is not one of {sorted(aws.PARTITIONS)}", "INVALID_ARGUMENT")
    try:
        creds = aws.mint_credentials(app.config.credential_secret, account_id, role, session, ttl,
                                     now=app.now_utc(), partition=partition)
    except ValueError as exc:
        raise GoogleError(400, str(exc), "INVALID_ARGUMENT") from exc
    return json_response(creds)


def _web_identity_token(default_audience: str):
    """POST {account_id | issuer, subject?, audience?, ttl_seconds?, foreign?} -> {token, issuer, ...}:
    a projected service-account token of an issuer in aws.oidc_providers (docs/internal-emulator-interface.md)."""
    def handler(app: App, req: Request, p: dict[str, str]) -> Response:
        body = req.json()
        unknown = sorted(set(body) - {"account_id", "issuer", "subject", "audience", "ttl_seconds", "foreign"})
        if unknown:
            raise GoogleError(400, f"unknown key(s) {unknown}", "INVALID_ARGUMENT")
        account_id, issuer = body.get("account_id"), body.get("issuer")
        providers = app.config.oidc_providers
        if issuer is not None:
            chosen = [o for o in providers if o.issuer == issuer and account_id in (None, o.account_id)]
        else:
            chosen = [o for o in providers if o.account_id == account_id]
        if not chosen:
            raise GoogleError(400, f"no aws.oidc_providers entry for account_id {account_id!r} / issuer {issuer!r} in the config",
                              "INVALID_ARGUMENT")
        subject = body.get("subject", web_identity.DEFAULT_SUBJECT)
        audience = body.get("audience", default_audience)
        ttl = body.get("ttl_seconds", 86400)
        foreign = body.get("foreign", False)
        if not isinstance(subject, str) or not subject or not isinstance(audience, str) or not audience:
            raise GoogleError(400, "subject and audience must be non-empty strings", "INVALID_ARGUMENT")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not -86400 <= ttl <= 2592000:
            raise GoogleError(400, "ttl_seconds must be an integer from -86400 to 2592000 (<= 0: already expired)", "INVALID_ARGUMENT")
        if not isinstance(foreign, bool):
            raise GoogleError(400, "foreign must be true or false", "INVALID_ARGUMENT")
        token = web_identity.mint_token(app.config.credential_secret, chosen[0].issuer, subject=subject, audience=audience,
                                        ttl_seconds=ttl, foreign=foreign, now=app.now_utc())
        claims = web_identity.unverified_claims(token)[1]
        return json_response({"token": token, "issuer": chosen[0].issuer, "account_id": chosen[0].account_id,
                              "subject": subject, "audience": audience, "expires": claims["exp"]})
    return handler


def aws_sts(app: App, req: Request, p: dict[str, str]) -> Response:
    status, ctype, body = aws.handle_sts_query(app.config.credential_secret, req.method, req.url,
                                               req.headers, req.body, now=app.now_utc(), config=app.config)
    return Response(status, body, ctype)


ROUTES = [
    route("emulator.healthz", "GET", r"/_emulator/healthz", "admin", "none", healthz),
    route("emulator.stats", "GET", r"/_emulator/stats", "admin", "none", stats),
    route("emulator.routes", "GET", r"/_emulator/routes", "admin", "none", routes_list),
    route("emulator.reset", "POST", r"/_emulator/reset", "admin", "none", reset),
    route("emulator.faults.add", "POST", r"/_emulator/faults", "admin", "none", add_fault),
    route("emulator.faults.list", "GET", r"/_emulator/faults", "admin", "none", list_faults),
    route("emulator.faults.clear", "DELETE", r"/_emulator/faults", "admin", "none", clear_faults),
    route("emulator.state", "GET", r"/_emulator/state", "admin", "none", dump_state),
    route("emulator.consistency.get", "GET", r"/_emulator/consistency", "admin", "none", consistency_get),
    route("emulator.consistency.set", "POST", r"/_emulator/consistency", "admin", "none", consistency_post),
    route("emulator.tokens.get", "GET", r"/_emulator/tokens", "admin", "none", tokens_get),
    route("emulator.tokens.set", "POST", r"/_emulator/tokens", "admin", "none", tokens_post),
    route("emulator.aws.credentials", "POST", r"/_emulator/aws/credentials", "admin", "none",
          aws_credentials),
    route("emulator.aws.web_identity_token", "POST", r"/_emulator/aws/web-identity-token", "admin", "none",
          _web_identity_token(web_identity.STS_AUDIENCE)),
    route("emulator.aws.pod_identity_token", "POST", r"/_emulator/aws/pod-identity-token", "admin", "none",
          _web_identity_token(web_identity.POD_IDENTITY_AUDIENCE)),
    route("aws.sts.GetCallerIdentity", "POST", r"/", "aws", "none", aws_sts),
]
