# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""GcpClient: one JSON-over-HTTP call path for every GCP module.

It deliberately avoids googleapiclient: building discovery clients costs more than the calls
themselves.  Every call goes through ``request()`` with:

* bounded retries with jittered exponential backoff on 429, 5xx and ABORTED;
* a consistency window (``consistency_timeout``) for answers that only mean "not agreed yet";
* replayed writes: a retried write refused because its first attempt had landed is a success;
* Google errors mapped to one clear line;

plus long-running Operation polling bounded by ``wait_timeout`` and IAM policy
read-modify-write with the etag, redone as a whole on conflict.
"""

from __future__ import annotations

import copy

from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import HAS_REQUESTS, auth_errors
from ansible_collections.keyless.wif.plugins.module_utils.gcp.consistency import (
    ConsistencyWindow,
    not_found,
    service_account_missing,
    service_disabled,
    service_usage_busy,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import (
    GRPC_CODES,
    GcpAuthError,
    GcpError,
    OperationTimeout,
    error_from_response,
    fmt_seconds,
    one_line,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RETRYABLE_GOOGLE, RETRYABLE_HTTP, retry_after

if HAS_REQUESTS:
    import requests

USER_AGENT = "keyless.wif-ansible/0.1.0"


class Landed(dict):
    """Answer of a retried write refused because an earlier attempt of it had already landed.

    It carries no resource: the caller re-reads what it needs.
    """


class GcpClient:
    """Thin JSON-over-HTTP client: retries, error mapping, operations, IAM policies."""

    def __init__(self, session, endpoints, retry_policy, request_timeout=30.0, warn=None, consistency=None,
                 check_mode=False):
        self.session = session
        self.endpoints = endpoints
        self.retry = retry_policy
        self.request_timeout = request_timeout
        self.warn = warn or (lambda msg: None)
        self.consistency = consistency or ConsistencyWindow(0, clock=retry_policy.clock, sleep=retry_policy.sleep)
        self.writes = []      # (method, path) of every write that reached the server with 2xx
        self.retried = []     # (status, path) of retried answers, for results/debugging
        self.check_mode = check_mode  # the task's --check: enabling an API before this was only predicted
        self._enabled_services = {}

    def url(self, service, path):
        return "%s/%s" % (self.endpoints[service], path.lstrip("/"))

    def request(self, method, service, path, *, params=None, body=None, resource=None, action=None,
                retry_aborted=True, write=None, landed_if=None, wait_visible=False, consistent=True):
        """Send one API call (with retries); return the decoded JSON answer ({} when empty).

        ``landed_if(exc)``: for a write, True when a refusal of a retry means that an earlier
        attempt whose outcome was unknown had landed (a DELETE answering 404); the call then
        returns a ``Landed`` answer.  ``wait_visible``: a 404 is waited out in the consistency
        window (a resource just created).  ``consistent=False`` skips the consistency window
        (the lookups the window itself makes, which must not wait on themselves).
        """
        url = self.url(service, path)
        is_write = (method != "GET") if write is None else write
        attempt_state = {"uncertain": False}

        def once():
            try:
                response = self.session.request(method, url, params=params, json=body,
                                                timeout=self.request_timeout,
                                                headers={"User-Agent": USER_AGENT})
            except auth_errors() as exc:
                raise GcpAuthError("authentication failed: %s" % one_line(exc)) from None
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
                err.retry_after = retry_after(response)
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

        result = self.consistency.call(with_retries, not_agreed, self.note_wait(path)) if consistent else with_retries()
        if is_write:
            self.writes.append((method, path))
        return result

    def note_wait(self, path):
        def note(exc, reason, waited, wait):
            self.retried.append({"http_status": exc.http_status, "google_status": exc.google_status,
                                 "path": path, "wait": round(wait, 3), "reason": reason})
        return note

    def _service_enabled(self, exc):
        """For a SERVICE_DISABLED answer: whether Service Usage lists that service as enabled (None: no answer)."""
        found = service_disabled(exc)
        if not found:
            return None
        service, consumer = found
        if not service or not consumer.startswith("projects/"):
            return None
        key = (consumer, service)
        if key not in self._enabled_services:
            try:
                answer = self.request("GET", "serviceusage", "v1/%s/services/%s" % (consumer, service),
                                      resource="%s/services/%s" % (consumer, service), action="read service",
                                      consistent=False)
            except GcpError:
                answer = None  # no answer: neither waited for nor taken as off; asked once a run
            self._enabled_services[key] = None if answer is None else answer.get("state") == "ENABLED"
        return self._enabled_services[key]

    def _propagating_service(self, exc):
        """A SERVICE_DISABLED answer for a service that Service Usage already lists as enabled."""
        if self._service_enabled(exc):
            return "%s was enabled but has not propagated yet" % service_disabled(exc)[0]
        return None

    def absent(self, exc):
        """True when a read's error means there is nothing there: 404, or in check mode an API not enabled yet.

        In check mode the task that enables the API ran before this one, but only predicted; with
        the API off (Service Usage says so) nothing of it exists yet.  Outside check mode that
        SERVICE_DISABLED answer stays an error.
        """
        if not isinstance(exc, GcpError):
            return False
        if exc.is_not_found:
            return True
        return bool(self.check_mode and self._service_enabled(exc) is False)

    def get_or_none(self, service, path, resource=None, action="read"):
        """GET ``path``; None when it is absent (see ``absent``)."""
        try:
            return self.request("GET", service, path, resource=resource, action=action)
        except GcpError as exc:
            if self.absent(exc):
                return None
            raise

    def wait_visible(self, service, path, resource=None, action="read", created=None):
        """GET a resource just created until it is visible (bounded by the consistency window).

        With the window off (consistency_timeout 0) there is no poll: ``created``, the create's own
        answer, is returned when there is one (a poll with no time to wait could only fail).
        """
        if created and self.consistency.timeout == 0:
            return created
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
                    "complete on Google's side) or raise wait_timeout" % fmt_seconds(timeout),
                    google_status="DEADLINE_EXCEEDED", resource=resource, action=action, operation=name)
            self.retry.sleep(min(interval, remaining))
            interval = min(interval * 1.5, poll_max)
            operation = self.request("GET", service, "v1/" + name, resource=resource,
                                     action="poll operation for " + (action or "request"), write=False)
        if operation.get("error"):
            err = operation["error"]
            code = err.get("code")
            raise GcpError(err.get("message") or "operation failed", http_status=None,
                           google_status=GRPC_CODES.get(code, str(code) if code is not None else None),
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
