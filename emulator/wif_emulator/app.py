"""Transport-independent core: routing, auth, faults, counters, operations, dispatch."""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import permissions
from .config import Config
from .errors import DEFAULT_MESSAGES, GoogleError, OAuthError, unauthenticated
from .state import State

JSON = "application/json; charset=UTF-8"
# Fault actions a handler uses up itself, only when it does what they disturb.
DEFERRED_FAULTS = ("etag_conflict", "slow_operation", "service_usage_error")
# Control characters (a percent-decoded %0A, say) are in no Google resource name.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Request:
    method: str
    path: str                       # percent-decoded, without the query
    raw_path: str                   # as received, with the query
    query: dict[str, list[str]]
    headers: dict[str, str]         # lower-case names
    body: bytes
    url: str = ""                   # absolute URL as the client addressed it
    # Fault rules a handler may consume (etag conflicts, slow operations).
    faults: list[dict[str, Any]] = field(default_factory=list)

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise GoogleError(400, f"Invalid JSON payload received. {exc}",
                              "INVALID_ARGUMENT") from exc
        if not isinstance(data, dict):
            raise GoogleError(400, "Invalid JSON payload received. Expected an object.",
                              "INVALID_ARGUMENT")
        return data

    def form(self) -> dict[str, str]:
        pairs = urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(pairs)

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    # True: the server closes the connection with a TCP reset instead of answering.
    reset_connection: bool = False


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode())


Handler = Callable[["App", Request, dict[str, str]], Response]


@dataclass
class Route:
    name: str        # e.g. "iam.workloadIdentityPools.create"
    method: str
    pattern: re.Pattern[str]
    kind: str        # read | write | token | inference | aws | admin
    auth: str        # admin (control plane) | none (handler authenticates itself)
    handler: Handler


def route(name: str, method: str, pattern: str, kind: str, auth: str, handler: Handler) -> Route:
    """``pattern`` must match the whole path (App.match uses fullmatch)."""
    return Route(name, method, re.compile(pattern), kind, auth, handler)


# Successful calls counted for GET /_emulator/stats (a replayed or reset answer still counts:
# the server did the work).
COUNTERS = ("sts_token_exchanges", "generate_access_token")
# Also in counters: how many distinct AWS credentials (role session + expiry: one per minted set)
# signed the subject tokens of successful exchanges, so that a run can see instance credentials rotate.
AWS_CREDENTIALS_SEEN = "aws_credentials_seen"


def reset_response() -> Response:
    """What a commit_then_fail "reset" rule answers: nothing, the connection is reset."""
    return Response(0, b"", reset_connection=True)


class App:
    """Everything but HTTP. All state access happens under self.lock."""

    def __init__(self, config: Config, routes: list[Route], state_file: str | None = None) -> None:
        self.config = config
        self.state = State(config, state_file or config.state_file)
        self.lock = threading.RLock()
        self.routes = routes
        self.faults: list[dict[str, Any]] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.aws_credentials: set[tuple[str, str]] = set()
        self.fault_seq = 0
        # Epoch seconds; tests replace it to let time pass without sleeping.
        self.clock: Callable[[], float] = time.time

    # --- time ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def now_utc(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.now(), tz=datetime.UTC)

    # --- routing ---------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_known = False
        if _CONTROL_RE.search(path):
            return None, {}, False  # not even inside a [^/]+ segment
        for r in self.routes:
            m = r.pattern.fullmatch(path)
            if m:
                path_known = True
                if r.method == method:
                    return r, m.groupdict(), True
        return None, {}, path_known

    # --- faults ----------------------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.fault_seq += 1
            rule = dict(rule, id=self.fault_seq)
            self.faults.append(rule)
            return rule

    def _matching_faults(self, r: Route, req: Request) -> list[dict[str, Any]]:
        out = []
        for rule in self.faults:
            if rule["remaining"] <= 0:
                continue
            if rule.get("method") and rule["method"].upper() != req.method:
                continue
            if rule.get("route") and rule["route"] != r.name:
                continue
            if rule.get("path_re") and not re.search(rule["path_re"], req.path):
                continue
            out.append(rule)
        return out

    def consume_fault(self, req: Request, action: str) -> dict[str, Any] | None:
        """A handler takes one use of a deferred fault (one of DEFERRED_FAULTS)."""
        for rule in req.faults:
            if rule["action"] == action and rule["remaining"] > 0:
                rule["remaining"] -= 1
                rule["fired"] = rule.get("fired", 0) + 1
                return rule
        return None

    # --- counters --------------------------------------------------------------------------
    def _count(self, r: Route, resp: Response, seconds: float) -> None:
        key = f"{r.method} {r.name}"
        entry = self.stats.setdefault(key, {"route": r.name, "method": r.method, "kind": r.kind,
                                            "count": 0, "status": {}, "server_ms": 0.0})
        entry["count"] += 1
        entry["server_ms"] = round(entry["server_ms"] + seconds * 1000, 3)
        status = "reset" if resp.reset_connection else str(resp.status)
        entry["status"][status] = entry["status"].get(status, 0) + 1

    def count_success(self, counter: str) -> None:
        self.counters[counter] += 1

    def note_aws_credentials(self, arn: str, expiration: datetime.datetime) -> None:
        with self.lock:
            self.aws_credentials.add((arn, expiration.isoformat()))

    def reset_counters(self) -> None:
        with self.lock:
            self.stats.clear()
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.aws_credentials.clear()

    def stats_snapshot(self) -> dict[str, Any]:
        with self.lock:
            routes = {k: json.loads(json.dumps(v)) for k, v in sorted(self.stats.items())}
            counters = dict(self.counters)
            counters[AWS_CREDENTIALS_SEEN] = len(self.aws_credentials)
        totals: dict[str, int] = {"all": 0}
        for v in routes.values():
            totals[v["kind"]] = totals.get(v["kind"], 0) + v["count"]
            totals["all"] += v["count"]
        return {"routes": routes, "totals": totals, "counters": counters}

    # --- operations ------------------------------------------------------------------------
    def new_operation(self, req: Request, name: str, metadata_type: str,
                      response: dict[str, Any] | None,
                      error: dict[str, Any] | None = None) -> dict[str, Any]:
        """An Operation that ends with ``response``, or failed with ``error`` (a google.rpc.Status)."""
        polls = self.config.polls_before_done
        rule = self.consume_fault(req, "slow_operation")
        if rule is not None:
            polls = int(rule["polls"])
        op: dict[str, Any] = {"name": name, "metadata": {"@type": metadata_type}, "done": True}
        if error is not None:
            op["error"] = error
        elif response is not None:
            op["response"] = response
        self.state.data["operations"][name] = {"op": op, "polls_left": polls,
                                               "created": self.now()}
        return self._op_view(name, count_poll=False)

    def _op_view(self, name: str, count_poll: bool) -> dict[str, Any]:
        rec = self.state.data["operations"][name]
        if rec["polls_left"] > 0:
            if count_poll:
                rec["polls_left"] -= 1
            return {"name": name, "metadata": rec["op"]["metadata"], "done": False}
        return rec["op"]

    def get_operation(self, name: str) -> dict[str, Any]:
        if name not in self.state.data["operations"]:
            raise GoogleError(404, f"Operation {name} not found.", "NOT_FOUND")
        return self._op_view(name, count_poll=True)

    @staticmethod
    def op_id() -> str:
        return "emu" + uuid.uuid4().hex

    # --- dispatch --------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        r, params, path_known = self.match(req.method, req.path)
        if r is None:
            msg = (f"Method not found: {req.method} {req.path}" if path_known
                   else f"The requested URL {req.path} was not found on this server.")
            return json_response(GoogleError(404, msg, "NOT_FOUND").body(), 404)
        started = time.perf_counter()
        delay = 0.0
        injected: GoogleError | None = None
        lost: dict[str, Any] | None = None  # a commit_then_fail rule to apply after the handler
        if r.kind != "admin":
            with self.lock:
                for rule in self._matching_faults(r, req):
                    act = rule["action"]
                    if act in DEFERRED_FAULTS:
                        req.faults.append(rule)
                        continue
                    if act == "commit_then_fail":
                        lost = lost or rule
                        continue
                    rule["remaining"] -= 1
                    rule["fired"] = rule.get("fired", 0) + 1
                    if act == "latency":
                        delay += rule["latency_ms"] / 1000.0
                    elif act == "status" and injected is None:
                        code = int(rule["status"])
                        injected = GoogleError(code, rule.get("message") or DEFAULT_MESSAGES[code])
                # Used up now (not after the handler) so that concurrent calls cannot share it;
                # an injected status means the write never ran, so the rule waits.
                if lost is not None and injected is None:
                    lost["remaining"] -= 1
                    lost["fired"] = lost.get("fired", 0) + 1
                else:
                    lost = None
        if delay:
            time.sleep(delay)
        if injected is not None:
            resp = json_response(injected.body(), injected.code)
        else:
            resp = self._run(r, req, params)
            if lost is not None:
                resp = self._lose_answer(lost)
        if r.kind != "admin":
            with self.lock:
                self._count(r, resp, time.perf_counter() - started)
        return resp

    @staticmethod
    def _lose_answer(rule: dict[str, Any]) -> Response:
        """The call took effect; the client gets a 503 or a reset instead of its answer."""
        if rule["then"] == "reset":
            return reset_response()
        return json_response(GoogleError(503, DEFAULT_MESSAGES[503]).body(), 503)

    def _run(self, r: Route, req: Request, params: dict[str, str]) -> Response:
        try:
            if r.auth == "admin":
                self.require_admin(req, r, params)
            with self.lock:
                resp = r.handler(self, req, params)
                # Persist after every successful mutation (and token issue, so a restarted
                # sandbox still honours the tokens its clients cache).
                if r.kind in ("write", "token") and resp.status < 400:
                    self.state.save()
                return resp
        except GoogleError as err:
            return json_response(err.body(), err.code)
        except OAuthError as err:
            return json_response(err.body(), err.http_status)

    def require_admin(self, req: Request, r: Route | None = None, params: dict[str, str] | None = None) -> None:
        """Admin tokens may call every control-plane route; a control_plane_service_accounts token
        only the routes whose permission the project policy grants it (permissions.require: 403
        naming the permission, raised before the handler, so before any change)."""
        token = req.bearer()
        if token is None:
            raise unauthenticated(missing=True)
        if token in self.config.admin_tokens:
            return
        email = self._control_plane_token(token)
        if email is None:
            raise unauthenticated(missing=False)
        if r is not None:
            with self.lock:
                permissions.require(self, r.name, params or {}, email)

    def _control_plane_token(self, token: str) -> str | None:
        """The account of an unexpired generateAccessToken token of a service account in
        control_plane_service_accounts (None for any other token)."""
        with self.lock:
            rec = self.state.data["tokens"].get(token)
        if (rec is not None and rec.get("kind") == "service_account" and rec["expires"] > self.now()
                and rec.get("email") in self.config.control_plane_service_accounts):
            return str(rec["email"])
        return None
