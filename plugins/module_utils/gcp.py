# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Small Google Cloud client layer shared by every keyless.wif GCP module.

It deliberately avoids googleapiclient: building discovery clients costs more
than the calls themselves.  Everything goes through one requests session
(google-auth's AuthorizedSession, or a plain bearer-token session) with:

* auth from ADC, a service-account key, an access token or an external_account
  file (so the control plane can itself run keyless from AWS);
* per-service endpoint overrides (private endpoints, the offline emulator);
* bounded retries with jittered exponential backoff on 429, 5xx and ABORTED;
* long-running Operation polling bounded by ``wait_timeout``;
* IAM policy read-modify-write with the etag, redone as a whole on conflict;
* a consistency window (``consistency_timeout``) for answers that only mean "not agreed yet";
* replayed writes: a retried write refused because its first attempt had landed is a success;
* Google errors mapped to one clear line.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.keyless.wif.plugins.module_utils.gcp_consistency import (
    ConsistencyWindow,
    not_found,
    service_account_missing,
    service_disabled,
    service_usage_busy,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp_iam import apply_bindings, binding_view
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    ValidationError,
    check_project,
    check_url,
)

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported through fail_json
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    # Only probe for google-auth here; its modules are imported when credentials are built,
    # because importing them costs more than most module runs (auth_kind=accesstoken needs none).
    import importlib.util
    HAS_GOOGLE_AUTH = importlib.util.find_spec("google.auth") is not None
except (ImportError, ValueError):  # pragma: no cover
    HAS_GOOGLE_AUTH = False


USER_AGENT = "keyless.wif-ansible/0.1.0"
DEFAULT_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
AUTH_KINDS = ["application", "serviceaccount", "accesstoken", "external_account"]

# Public Google endpoints, one per API the collection talks to.
DEFAULT_ENDPOINTS = {
    "iam": "https://iam.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "serviceusage": "https://serviceusage.googleapis.com",
    "sts": "https://sts.googleapis.com",
    "iamcredentials": "https://iamcredentials.googleapis.com",
}

RETRYABLE_HTTP = frozenset([429, 500, 502, 503, 504])
# Google statuses that mean "try again" whatever the HTTP code says.
RETRYABLE_GOOGLE = frozenset(["ABORTED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"])

# HTTP status -> canonical Google status, used when a body carries none.
_HTTP_TO_GOOGLE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

class GcpError(Exception):
    """A failed Google API call, rendered as one line."""

    def __init__(self, message, *, http_status=None, google_status=None, resource=None,
                 action=None, operation=None, details=None):
        super().__init__(message)
        self.message = _one_line(message)
        self.http_status = http_status
        self.google_status = google_status
        self.resource = resource
        self.action = action
        self.operation = operation
        self.details = details or []
        # Set by the consistency window when it gave up waiting.
        self.consistency_note = None
        # True when a write was sent and its outcome is unknown (5xx, reset or timeout after sending).
        self.write_uncertain = False

    def __str__(self):
        parts = []
        if self.action:
            parts.append(self.action)
        if self.resource:
            parts.append(self.resource)
        head = " ".join(parts) + " failed" if parts else "Google API call failed"
        status = []
        if self.http_status is not None:
            status.append("HTTP %s" % self.http_status)
        if self.google_status:
            status.append(self.google_status)
        line = head
        if status:
            line += ": " + " ".join(status)
        if self.message:
            line += ": " + self.message
        if self.operation:
            line += " (operation %s)" % self.operation
        if self.consistency_note:
            line += " (%s)" % self.consistency_note
        return line

    @property
    def is_not_found(self):
        return self.http_status == 404

    @property
    def is_conflict(self):
        """True for a concurrent-change answer (stale etag)."""
        return (self.http_status == 409 and self.google_status in (None, "ABORTED")) or self.http_status == 412

    def as_result(self):
        return dict(
            http_status=self.http_status,
            google_status=self.google_status,
            resource=self.resource,
            operation=self.operation,
            error_details=self.details,
        )


class GcpAuthError(Exception):
    """Credentials could not be loaded or refreshed."""


class _Captured(Exception):
    """Raised in place of exit_json while a body re-runs in check mode to re-read the state."""


class OperationTimeout(GcpError):
    pass


def _one_line(text):
    if text is None:
        return ""
    return " ".join(str(text).split())


def error_from_response(response, resource=None, action=None):
    """Build a GcpError from a requests Response with a non-2xx status."""
    status = response.status_code
    google_status = None
    message = ""
    details = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        google_status = err.get("status")
        message = err.get("message") or ""
        details = err.get("details") or []
    elif isinstance(body, dict) and "error" in body:
        # OAuth-style answers (STS): {"error": "invalid_target", "error_description": ...}
        google_status = str(body.get("error"))
        message = body.get("error_description") or ""
    else:
        message = (response.text or "")[:300]
    if not google_status:
        google_status = _HTTP_TO_GOOGLE.get(status)
    return GcpError(message or response.reason or "", http_status=status, google_status=google_status,
                    resource=resource, action=action, details=details)


# --------------------------------------------------------------------------------------
# Retry policy (clock, sleep and randomness injectable for tests)
# --------------------------------------------------------------------------------------

class RetryPolicy:
    """Jittered exponential backoff bounded in attempts and in total time."""

    def __init__(self, *, retries=8, base_delay=0.5, max_delay=16.0, max_total=120.0,
                 clock=None, sleep=None, rand=None):
        self.retries = max(0, int(retries))
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.max_total = float(max_total)
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.rand = rand or random.random

    def delay(self, attempt, retry_after=None):
        """Seconds to wait before retry number ``attempt`` (0-based): equal jitter."""
        cap = min(self.max_delay, self.base_delay * (2 ** attempt))
        wait = cap / 2.0 + self.rand() * cap / 2.0
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.max_delay))
        return wait

    def call(self, func, should_retry, on_retry=None):
        """Run ``func`` until it succeeds, raises a non-retryable error, or the budget ends.

        ``should_retry(exc)`` returns None (do not retry) or a Retry-After hint in seconds
        (0 for none).  The last error is re-raised when the budget is spent.
        """
        start = self.clock()
        attempt = 0
        while True:
            try:
                return func()
            except Exception as exc:  # noqa: BLE001 - filtered by should_retry
                hint = should_retry(exc)
                if hint is None or attempt >= self.retries:
                    raise
                wait = self.delay(attempt, hint or None)
                if self.clock() - start + wait > self.max_total:
                    raise
                if on_retry is not None:
                    on_retry(exc, attempt, wait)
                self.sleep(wait)
                attempt += 1


def _retry_after(response):
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return 0
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0


# --------------------------------------------------------------------------------------
# Auth and endpoints
# --------------------------------------------------------------------------------------

def gcp_argument_spec():
    """Options shared by every GCP module (documented in doc_fragments/gcp.py)."""
    return dict(
        project=dict(type="str", required=True, fallback=(env_fallback, ["GCP_PROJECT"])),
        auth_kind=dict(type="str", choices=AUTH_KINDS, default="application",
                       fallback=(env_fallback, ["GCP_AUTH_KIND"])),
        service_account_file=dict(type="path", fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE"])),
        service_account_contents=dict(type="jsonarg", no_log=True,
                                      fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"])),
        access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        external_account_file=dict(type="path", fallback=(env_fallback, ["GCP_EXTERNAL_ACCOUNT_FILE"])),
        scopes=dict(type="list", elements="str", fallback=(env_fallback, ["GCP_SCOPES"])),
        endpoints=dict(type="dict", options=dict(
            iam=dict(type="str"),
            cloudresourcemanager=dict(type="str"),
            serviceusage=dict(type="str"),
            sts=dict(type="str"),
            iamcredentials=dict(type="str"),
        )),
        request_timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=8, fallback=(env_fallback, ["GCP_RETRIES"])),
        retry_timeout=dict(type="float", default=120.0, fallback=(env_fallback, ["GCP_RETRY_TIMEOUT"])),
        wait_timeout=dict(type="float", default=300.0),
        consistency_timeout=dict(type="float", default=120.0, fallback=(env_fallback, ["GCP_CONSISTENCY_TIMEOUT"])),
    )


GCP_REQUIRED_IF = [
    ("auth_kind", "serviceaccount", ("service_account_file", "service_account_contents"), True),
    ("auth_kind", "accesstoken", ("access_token",)),
    ("auth_kind", "external_account", ("external_account_file",)),
]
GCP_MUTUALLY_EXCLUSIVE = [("service_account_file", "service_account_contents")]


def resolve_endpoints(option, environ=None):
    """Endpoint per service: the ``endpoints`` option, else GCP_ENDPOINT_<SERVICE>, else Google's."""
    environ = os.environ if environ is None else environ
    option = option or {}
    resolved = {}
    for service, default in DEFAULT_ENDPOINTS.items():
        value = option.get(service) or environ.get("GCP_ENDPOINT_" + service.upper()) or default
        resolved[service] = check_url("endpoints.%s" % service, value).rstrip("/")
    return resolved


def load_credentials(params, endpoints):
    """Return google-auth credentials for the auth options (no network call here)."""
    if not HAS_GOOGLE_AUTH:
        raise GcpAuthError(missing_required_lib("google-auth"))
    import google.auth  # noqa: PLC0415 - deferred: costly, unneeded for accesstoken
    import google.auth.exceptions  # noqa: PLC0415
    import google.oauth2.credentials  # noqa: PLC0415
    import google.oauth2.service_account  # noqa: PLC0415

    kind = params.get("auth_kind") or "application"
    scopes = params.get("scopes") or DEFAULT_SCOPES
    try:
        if kind == "accesstoken":
            return google.oauth2.credentials.Credentials(token=params["access_token"])
        if kind == "serviceaccount":
            if params.get("service_account_contents"):
                info = params["service_account_contents"]
                if isinstance(info, str):
                    info = json.loads(info)
                return google.oauth2.service_account.Credentials.from_service_account_info(info, scopes=scopes)
            return google.oauth2.service_account.Credentials.from_service_account_file(
                params["service_account_file"], scopes=scopes)
        if kind == "external_account":
            with open(params["external_account_file"], "r") as handle:
                info = json.load(handle)
            info = _redirect_external_account(info, endpoints)
            return _external_account_credentials(info, scopes)
        return google.auth.default(scopes=scopes)[0]
    except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        raise GcpAuthError("cannot load credentials for auth_kind=%s: %s" % (kind, _one_line(exc))) from None


def _external_account_credentials(info, scopes):
    """Type-specific loader (google-auth deprecates the generic one for external input)."""
    if info.get("type") != "external_account":
        raise ValueError("external_account_file must contain a credential configuration of type external_account, "
                         "got type %r" % info.get("type"))
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        import google.auth.aws  # noqa: PLC0415 - deferred like the other google-auth imports

        return google.auth.aws.Credentials.from_info(info, scopes=scopes)
    if "executable" in source:
        import google.auth.pluggable  # noqa: PLC0415

        return google.auth.pluggable.Credentials.from_info(info, scopes=scopes)
    import google.auth.identity_pool  # noqa: PLC0415

    return google.auth.identity_pool.Credentials.from_info(info, scopes=scopes)


def _redirect_external_account(info, endpoints):
    """Point an external_account file's STS and impersonation URLs at overridden endpoints."""
    info = dict(info)
    if endpoints.get("sts") and endpoints["sts"] != DEFAULT_ENDPOINTS["sts"]:
        info["token_url"] = endpoints["sts"] + "/v1/token"
    url = info.get("service_account_impersonation_url")
    if url and endpoints.get("iamcredentials") and endpoints["iamcredentials"] != DEFAULT_ENDPOINTS["iamcredentials"]:
        tail = url.split("/v1/", 1)[1] if "/v1/" in url else url
        info["service_account_impersonation_url"] = endpoints["iamcredentials"] + "/v1/" + tail
    return info


# --------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------

class Landed(dict):
    """Answer of a retried write refused because an earlier attempt of it had already landed.

    It carries no resource: the caller re-reads what it needs.
    """


class GcpClient:
    """Thin JSON-over-HTTP client: retries, error mapping, operations, IAM policies."""

    def __init__(self, session, endpoints, retry_policy, request_timeout=30.0, warn=None, consistency=None):
        self.session = session
        self.endpoints = endpoints
        self.retry = retry_policy
        self.request_timeout = request_timeout
        self.warn = warn or (lambda msg: None)
        self.consistency = consistency or ConsistencyWindow(0, clock=retry_policy.clock, sleep=retry_policy.sleep)
        self.writes = []      # (method, path) of every write that reached the server with 2xx
        self.retried = []     # (status, path) of retried answers, for results/debugging
        self._enabled_services = {}

    def url(self, service, path):
        return "%s/%s" % (self.endpoints[service], path.lstrip("/"))

    def request(self, method, service, path, *, params=None, body=None, resource=None, action=None,
                retry_aborted=True, write=None, landed_if=None, wait_visible=False):
        """Send one API call (with retries); return the decoded JSON answer ({} when empty).

        ``landed_if(exc)``: for a write, True when a refusal of a retry means that an earlier
        attempt whose outcome was unknown had landed (a DELETE answering 404); the call then
        returns a ``Landed`` answer.  ``wait_visible``: a 404 is waited out in the consistency
        window (a resource just created).
        """
        url = self.url(service, path)
        is_write = (method != "GET") if write is None else write
        attempt_state = {"uncertain": False}

        def once():
            try:
                response = self.session.request(method, url, params=params, json=body,
                                                timeout=self.request_timeout,
                                                headers={"User-Agent": USER_AGENT})
            except _auth_errors() as exc:
                raise GcpAuthError("authentication failed: %s" % _one_line(exc)) from None
            except requests.exceptions.RequestException as exc:
                err = GcpError("%s: %s" % (type(exc).__name__, exc), google_status="UNAVAILABLE",
                               resource=resource, action=action)
                # A request that never left cannot have landed; any other failure of a write may have.
                unsent = isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL)) or (
                    isinstance(exc, requests.exceptions.ConnectionError) and _refused(exc))
                err.transport_retryable = True
                if is_write and not unsent:
                    attempt_state["uncertain"] = True
                err.write_uncertain = attempt_state["uncertain"]
                raise err from None
            if response.status_code >= 400:
                err = error_from_response(response, resource=resource, action=action)
                err.retry_after = _retry_after(response)
                if is_write and response.status_code in RETRYABLE_HTTP and response.status_code != 429:
                    # A 5xx can come after the write took effect.
                    attempt_state["uncertain"] = True
                elif attempt_state["uncertain"] and landed_if is not None and landed_if(err):
                    return Landed()
                err.write_uncertain = attempt_state["uncertain"]
                raise err
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise GcpError("answer is not JSON: %s" % response.text[:200], http_status=response.status_code,
                               resource=resource, action=action) from None

        def should_retry(exc):
            if not isinstance(exc, GcpError):
                return None
            if getattr(exc, "transport_retryable", False):
                return 0
            if exc.http_status in RETRYABLE_HTTP:
                return getattr(exc, "retry_after", 0)
            if exc.google_status in RETRYABLE_GOOGLE and exc.http_status is not None:
                if exc.google_status == "ABORTED" and not retry_aborted:
                    return None
                return getattr(exc, "retry_after", 0)
            return None

        def on_retry(exc, attempt, wait):
            self.retried.append({"http_status": exc.http_status, "google_status": exc.google_status,
                                 "path": path, "wait": round(wait, 3)})

        def with_retries():
            return self.retry.call(once, should_retry, on_retry)

        def not_agreed(exc):
            if not isinstance(exc, GcpError):
                return None
            return ((wait_visible and not_found(exc)) or service_account_missing(exc) or service_usage_busy(exc)
                    or self._propagating_service(exc))

        result = self.consistency.call(with_retries, not_agreed, self.note_wait(path))
        if is_write:
            self.writes.append((method, path))
        return result

    def note_wait(self, path):
        def note(exc, reason, waited, wait):
            self.retried.append({"http_status": exc.http_status, "google_status": exc.google_status,
                                 "path": path, "wait": round(wait, 3), "reason": reason})
        return note

    def _propagating_service(self, exc):
        """A SERVICE_DISABLED answer for a service that Service Usage already lists as enabled."""
        found = service_disabled(exc)
        if not found:
            return None
        service, consumer = found
        if not service or not consumer.startswith("projects/"):
            return None
        key = (consumer, service)
        if key not in self._enabled_services:
            try:
                answer = self.retry.call(
                    lambda: self._get_json("serviceusage", "v1/%s/services/%s" % (consumer, service)),
                    lambda e: 0 if isinstance(e, GcpError) and e.http_status in RETRYABLE_HTTP else None)
            except GcpError:
                return None
            self._enabled_services[key] = answer.get("state") == "ENABLED"
        if self._enabled_services[key]:
            return "%s was enabled but has not propagated yet" % service
        return None

    def _get_json(self, service, path):
        """One plain GET, outside request(): no consistency window, so no SERVICE_DISABLED recursion."""
        try:
            response = self.session.request("GET", self.url(service, path), timeout=self.request_timeout,
                                            headers={"User-Agent": USER_AGENT})
        except requests.exceptions.RequestException as exc:
            raise GcpError("%s: %s" % (type(exc).__name__, exc), google_status="UNAVAILABLE") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.json() if response.content else {}

    def get_or_none(self, service, path, resource=None, action="read"):
        try:
            return self.request("GET", service, path, resource=resource, action=action)
        except GcpError as exc:
            if exc.is_not_found:
                return None
            raise

    def wait_visible(self, service, path, resource=None, action="read"):
        """GET a resource just created until it is visible (bounded by the consistency window)."""
        return self.request("GET", service, path, resource=resource, action=action, wait_visible=True)

    # ---- long-running operations ------------------------------------------------------

    def wait_operation(self, service, operation, timeout, *, resource=None, action=None, poll_start=0.2,
                       poll_max=5.0):
        """Poll an Operation until done; raise a GcpError naming it on error or timeout."""
        name = operation.get("name") or "<unnamed operation>"
        deadline = self.retry.clock() + float(timeout)
        interval = poll_start
        while not operation.get("done"):
            remaining = deadline - self.retry.clock()
            if remaining <= 0:
                raise OperationTimeout(
                    "operation still not done after wait_timeout=%ss; re-run the task (the change may still "
                    "complete on Google's side) or raise wait_timeout" % _fmt_seconds(timeout),
                    google_status="DEADLINE_EXCEEDED", resource=resource, action=action, operation=name)
            self.retry.sleep(min(interval, remaining))
            interval = min(interval * 1.5, poll_max)
            operation = self.request("GET", service, "v1/" + name, resource=resource,
                                     action="poll operation for " + (action or "request"), write=False)
        if operation.get("error"):
            err = operation["error"]
            code = err.get("code")
            raise GcpError(err.get("message") or "operation failed", http_status=None,
                           google_status=_GRPC_CODES.get(code, str(code) if code is not None else None),
                           resource=resource, action=action, operation=name, details=err.get("details"))
        return operation

    # ---- IAM policies -----------------------------------------------------------------

    def modify_iam_policy(self, read, write, mutate, check_mode=False):
        """Read-modify-write an IAM policy, redoing all three steps on a concurrent change.

        ``read()`` returns the policy, ``write(policy)`` stores it (sending the etag read),
        ``mutate(policy)`` returns the new policy or None when nothing needs to change.
        Returns (changed, before, after).  A write whose answer was lost (5xx or reset) and whose
        retry then met a changed etag is re-read: when the change is found in place, it landed
        and the result says changed.
        """
        state = {"landed": False}

        def attempt():
            before = read()
            state.setdefault("before", before)
            after = mutate(copy.deepcopy(before))
            if after is None:
                if state["landed"]:
                    return True, state["before"], before
                return False, before, before
            if check_mode:
                return True, before, after
            stored = write(after)
            return True, state["before"] if state["landed"] else before, stored or after

        def should_retry(exc):
            if isinstance(exc, GcpError) and exc.is_conflict:
                if exc.write_uncertain:
                    state["landed"] = True
                return 0
            return None

        def on_retry(exc, attempt_no, wait):
            self.retried.append({"http_status": exc.http_status, "google_status": exc.google_status,
                                 "path": "setIamPolicy (etag conflict, re-read)", "wait": round(wait, 3)})

        return self.retry.call(attempt, should_retry, on_retry)


def _refused(exc):
    """True when a ConnectionError means the connection was never made (nothing was sent)."""
    try:
        from urllib3.exceptions import NewConnectionError  # noqa: PLC0415 - only needed on this path
    except ImportError:  # pragma: no cover
        return False
    # requests wraps urllib3's MaxRetryError, whose reason is the NewConnectionError.
    first = exc.args[0] if exc.args else None
    return isinstance(first, NewConnectionError) or isinstance(getattr(first, "reason", None), NewConnectionError)


_GRPC_CODES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


def _auth_errors():
    """google-auth's exception base class, if google-auth has been loaded (else nothing to catch)."""
    module = sys.modules.get("google.auth.exceptions")
    return (module.GoogleAuthError,) if module is not None else ()


class BearerSession(requests.Session if HAS_REQUESTS else object):
    """requests.Session sending a fixed access token (auth_kind=accesstoken: nothing to refresh)."""

    def __init__(self, token):
        super().__init__()
        self.headers["Authorization"] = "Bearer " + token


def build_session(params, endpoints):
    """HTTP session for the auth options; google-auth is only loaded when credentials need it."""
    if params.get("auth_kind") == "accesstoken":
        return BearerSession(params["access_token"])
    credentials = load_credentials(params, endpoints)
    from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

    return AuthorizedSession(credentials)


def _fmt_seconds(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else str(value)


# --------------------------------------------------------------------------------------
# Result helpers
# --------------------------------------------------------------------------------------

# Keys whose values are user data (attribute names, labels): never rewritten.
SNAKE_IGNORE = ("attributeMapping", "labels")


def snake(resource):
    """camelCase API resource -> snake_case result (data maps such as attributeMapping kept)."""
    if resource is None:
        return {}
    return camel_dict_to_snake_dict(resource, ignore_list=SNAKE_IGNORE)


def changed_fields(current, desired):
    """Names (of ``desired``) whose value differs from ``current``; None in desired = unmanaged."""
    return [key for key, value in desired.items() if value is not None and current.get(key) != value]


def make_diff(before, after, fields=None):
    """before/after dicts restricted to managed fields, for Ansible's diff mode."""
    def pick(src):
        if src is None:
            return {}
        keys = fields if fields is not None else sorted(src)
        return {k: src.get(k) for k in keys if k in src}
    return {"before": pick(before), "after": pick(after)}


# --------------------------------------------------------------------------------------
# Module base class
# --------------------------------------------------------------------------------------

class GcpModule:
    """AnsibleModule wrapper: shared options, lazy client, one-line failures."""

    def __init__(self, argument_spec=None, required_if=None, mutually_exclusive=None, **kwargs):
        spec = gcp_argument_spec()
        spec.update(argument_spec or {})
        kwargs.setdefault("supports_check_mode", True)
        self._module = AnsibleModule(
            argument_spec=spec,
            required_if=list(GCP_REQUIRED_IF) + list(required_if or []),
            mutually_exclusive=list(GCP_MUTUALLY_EXCLUSIVE) + list(mutually_exclusive or []),
            **kwargs)
        if not HAS_REQUESTS:
            self._module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        if not HAS_GOOGLE_AUTH and self.params.get("auth_kind") != "accesstoken":
            self._module.fail_json(msg=missing_required_lib("google-auth"))
        self.check_mode = self._module.check_mode
        self.diff_mode = self._module._diff
        self._client = None
        self._project = None

    @property
    def params(self):
        return self._module.params

    def warn(self, msg):
        self._module.warn(msg)

    @property
    def client(self):
        """Built on first use, so validation always runs before any credential or network work."""
        if self._client is None:
            endpoints = resolve_endpoints(self.params.get("endpoints"))
            session = build_session(self.params, endpoints)
            policy = RetryPolicy(retries=self.params["retries"], max_total=self.params["retry_timeout"])
            window = ConsistencyWindow(self.params["consistency_timeout"])
            self._client = GcpClient(session, endpoints, policy, request_timeout=self.params["request_timeout"],
                                     warn=self.warn, consistency=window)
        return self._client

    def validate_common(self):
        check_project(self.params["project"])
        if self.params["retries"] < 0:
            raise ValidationError("retries", "must be 0 or more", self.params["retries"])
        for field in ("retry_timeout", "wait_timeout", "request_timeout"):
            if self.params[field] <= 0:
                raise ValidationError(field, "must be a positive number of seconds", self.params[field])
        if self.params["consistency_timeout"] < 0:
            raise ValidationError("consistency_timeout", "must be 0 or more seconds", self.params["consistency_timeout"])
        resolve_endpoints(self.params.get("endpoints"))

    def project_info(self):
        """CRM v1 projects.get for the module's project (cached)."""
        if self._project is None:
            project = self.params["project"]
            self._project = self.client.request("GET", "cloudresourcemanager", "v1/projects/%s" % project,
                                                resource="projects/%s" % project, action="read project")
        return self._project

    def project_id(self):
        """The project ID (looked up when the project option is a number)."""
        project = self.params["project"]
        if project.isdigit():
            return self.project_info()["projectId"]
        return project

    def project_number(self):
        project = self.params["project"]
        if project.isdigit():
            return project
        return str(self.project_info()["projectNumber"])

    def ensure_bindings(self, read, write, wanted, present):
        """Additive IAM change by read-modify-write; returns (changed, before_view, after_view, policy)."""
        changed, before, after = self.client.modify_iam_policy(
            read, write, lambda policy: apply_bindings(policy, wanted, present), check_mode=self.check_mode)
        return changed, binding_view(before, wanted), binding_view(after, wanted), after

    def run(self, body):
        """Run ``body(self)`` turning every expected failure into one fail_json line."""
        try:
            self.validate_common()
            body(self)
        except ValidationError as exc:
            self._module.fail_json(msg="invalid input: %s" % exc, field=exc.field, rule=exc.rule)
        except GcpAuthError as exc:
            self._module.fail_json(msg=str(exc), changed=self._wrote(), **self._retries())
        except GcpError as exc:
            if exc.write_uncertain and not self.check_mode:
                self._settle_uncertain_write(body, exc)
            self._module.fail_json(msg=str(exc), changed=self._wrote(), writes_done=self._writes(),
                                   **dict(exc.as_result(), **self._retries()))

    def _settle_uncertain_write(self, body, exc):
        """A write failed with no clear answer: re-read (the body in check mode) to tell whether it landed.

        If nothing is left to change, it landed: the task succeeds, changed, with the re-read
        result.  Otherwise the failure stands, reported as not changed.
        """
        retried = list(self._client.retried)
        writes = list(self._client.writes)
        outcome = {}

        def capture(**result):
            outcome.update(result)
            raise _Captured()

        real_exit = self._module.exit_json
        self.check_mode = True
        self._module.exit_json = capture
        try:
            body(self)
        except _Captured:
            pass
        except (GcpError, GcpAuthError, ValidationError):
            outcome = {}
        finally:
            self._module.exit_json = real_exit
            self.check_mode = False
        self._client.retried = retried + [{"http_status": exc.http_status, "google_status": exc.google_status,
                                           "path": "re-read after a write with no clear answer", "wait": 0}]
        self._client.writes = writes
        if outcome and not outcome.get("changed"):
            outcome.pop("changed", None)
            outcome["retries_used"] = list(self._client.retried)
            outcome["write_landed_despite"] = str(exc)
            self._module.exit_json(changed=True, **outcome)

    def _retries(self):
        if self._client and self._client.retried:
            return {"retries_used": list(self._client.retried)}
        return {}

    def _wrote(self):
        return bool(self._client and self._client.writes)

    def _writes(self):
        return ["%s %s" % w for w in self._client.writes] if self._client else []

    def exit(self, changed, before=None, after=None, diff_fields=None, **result):
        if self.diff_mode and (before is not None or after is not None):
            result["diff"] = make_diff(before, after, diff_fields)
        if self._client and self._client.retried:
            result["retries_used"] = list(self._client.retried)
        self._module.exit_json(changed=changed, **result)
