# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Google is eventually consistent: which answers mean "not agreed yet", and how long to wait.

Each predicate takes a GcpError-like object (``http_status``, ``google_status``, ``message``,
``details``) and returns a short reason when the answer is a known propagation delay, else None.
Sources (see docs/modules.md, "Consistency"):

* a new service account answers 404 for a while, and a setIamPolicy naming it answers 400
  "Service account X does not exist." (terraform-provider-google ``iamServiceAccountNotFound``,
  magic-modules #10813, #14447);
* a just-enabled API answers 403 with ErrorInfo reason SERVICE_DISABLED (Google's own message:
  "If you enabled this API recently, wait a few minutes for the action to propagate");
* Service Usage refuses overlapping changes with 400 "Another activation or deactivation is in
  progress" and fails operations with error 160009 (Terraform ``ServiceUsageServiceBeingActivated``
  and ``ServiceUsageInternalError160009``).
"""

from __future__ import annotations

import re
import time

from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import fmt_seconds

SERVICE_ACCOUNT_MISSING_RE = re.compile(r"Service account \S+ does not exist")
SERVICE_USAGE_BUSY_TEXT = "Another activation or deactivation is in progress"
SERVICE_USAGE_160009_RE = re.compile(r"\b160009\b")
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


def error_info(exc, reason):
    """The google.rpc.ErrorInfo detail with ``reason``, or None."""
    for detail in getattr(exc, "details", None) or []:
        if isinstance(detail, dict) and detail.get("@type") == ERROR_INFO_TYPE and detail.get("reason") == reason:
            return detail
    return None


def service_disabled(exc):
    """(service, consumer) of a 403 SERVICE_DISABLED answer, else None."""
    if getattr(exc, "http_status", None) != 403:
        return None
    info = error_info(exc, "SERVICE_DISABLED")
    if info is None:
        return None
    metadata = info.get("metadata") or {}
    return metadata.get("service") or "", metadata.get("consumer") or ""


def service_account_missing(exc):
    """A setIamPolicy naming an account that IAM does not see yet."""
    if getattr(exc, "http_status", None) == 400 and SERVICE_ACCOUNT_MISSING_RE.search(getattr(exc, "message", "")):
        return "a new service account is not visible to IAM policies yet"
    return None


def service_usage_busy(exc):
    """Service Usage is still busy with another change of the same project."""
    message = getattr(exc, "message", "") or ""
    if SERVICE_USAGE_BUSY_TEXT in message:
        return "another service activation is in progress"
    if SERVICE_USAGE_160009_RE.search(message):
        return "Service Usage error 160009"
    return None


def not_found(exc):
    if getattr(exc, "http_status", None) == 404:
        return "a new resource is not visible yet"
    return None


class ConsistencyWindow:
    """Retry a call while its answer means "not agreed yet", for at most ``timeout`` seconds.

    Waits grow 1, 2, 4 … up to ``max_wait``; the clock and sleep are injectable for tests.
    ``on_wait(exc, reason, waited, wait)`` is called before every sleep.
    """

    def __init__(self, timeout, *, first_wait=1.0, max_wait=10.0, clock=None, sleep=None):
        self.timeout = max(0.0, float(timeout))
        self.first_wait = float(first_wait)
        self.max_wait = float(max_wait)
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep

    def call(self, func, reason_for, on_wait=None):
        start = self.clock()
        wait = self.first_wait
        while True:
            try:
                return func()
            except Exception as exc:  # noqa: BLE001 - filtered by reason_for
                reason = reason_for(exc)
                if not reason:
                    raise
                waited = self.clock() - start
                if waited + wait > self.timeout:
                    if hasattr(exc, "consistency_note"):
                        exc.consistency_note = "still %s after %ss (consistency_timeout=%ss)" % (
                            reason, int(round(waited)), fmt_seconds(self.timeout))
                    raise
                if on_wait is not None:
                    on_wait(exc, reason, waited, wait)
                self.sleep(wait)
                wait = min(wait * 2, self.max_wait)
