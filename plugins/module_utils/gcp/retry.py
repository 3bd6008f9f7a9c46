# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bounded retries: jittered exponential backoff (clock, sleep and randomness injectable for tests)."""

from __future__ import annotations

import random
import time

RETRYABLE_HTTP = frozenset([429, 500, 502, 503, 504])
# Google statuses that mean "try again" whatever the HTTP code says.
RETRYABLE_GOOGLE = frozenset(["ABORTED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"])


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


def retry_after(response):
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return 0
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0
