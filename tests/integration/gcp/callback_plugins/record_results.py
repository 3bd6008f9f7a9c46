# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result of a play run to $RECORD_RESULTS_FILE as JSON."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: aggregate
short_description: record task results for the integration tests
description: Writes each task result (name, host, status, result) to the file named by RECORD_RESULTS_FILE.
"""


def _payload(result):
    data = getattr(result, "result", None)
    if data is None:
        data = result._result
    return data


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []
        self._started = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started = time.time()

    def _add(self, result, status):
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        payload = _payload(result)
        if status == "ok" and payload.get("changed"):
            status = "changed"
        self.records.append({"task": task.get_name(), "host": host.get_name(), "status": status,
                             "start": self._started, "end": time.time(),
                             "result": json.loads(json.dumps(payload, default=str))})

    def v2_runner_on_ok(self, result):
        self._add(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._add(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._add(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._add(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("RECORD_RESULTS_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump(self.records, handle, indent=1)
