# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run keyless.wif.wif_credentials_check on the host, again and again while Google propagates.

IAM policy changes "typically propagate in 2 minutes, but could take 7 minutes or longer", and new
pools and providers take a while to reach STS. A check right after the bindings may then report
``binding_missing`` for a binding that is already right. With ``wait_timeout`` the check is re-run
every ``wait_interval`` seconds while its diagnosis is one of ``wait_for``, printing progress, and
the result says how long it waited.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import PROPAGATION_DIAGNOSES, waiting_for

display = Display()

WAIT_OPTIONS = ("wait_timeout", "wait_interval", "wait_for", "expect")


def _seconds(args, name, default, minimum):
    value = args.get(name, default)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AnsibleActionFail("%s must be a number of seconds, got %r" % (name, value)) from None
    if value < minimum:
        raise AnsibleActionFail("%s must be at least %s seconds, got %s" % (name, minimum, value))
    return value


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        timeout = _seconds(args, "wait_timeout", 0, 0)
        interval = _seconds(args, "wait_interval", 10, 1)
        wait_for = args.get("wait_for", list(PROPAGATION_DIAGNOSES))
        if isinstance(wait_for, str):
            wait_for = [wait_for]
        if not isinstance(wait_for, list) or not all(isinstance(code, str) for code in wait_for):
            raise AnsibleActionFail("wait_for must be a list of diagnosis codes, got %r" % (wait_for,))
        expect = args.get("expect", "ok")
        module_args = {key: value for key, value in args.items() if key not in WAIT_OPTIONS}
        # Each run decides for itself; the last one's failure (if any) is reported below.
        fail_on_error = module_args.get("fail_on_error", True)
        module_args["fail_on_error"] = False

        try:
            answer, waited, seen = self._check_until_settled(module_args, task_vars, timeout, interval, wait_for, expect)
        finally:
            # As the normal action does: the module's temporary directory on the host goes.
            self._remove_tmp_path(self._connection._shell.tmpdir)
        answer["waited_seconds"] = round(waited, 1)
        answer["waited_for"] = seen
        result.update(answer)
        if not answer.get("ok") and answer.get("diagnosis") and _truthy(fail_on_error) and not answer.get("failed"):
            diag = answer["diagnosis"]
            result["failed"] = True
            result["msg"] = to_text("hop %s failed: %s Fix: %s" % (answer.get("failed_hop"), diag["cause"], diag["fix"]))
        return result

    def _check_until_settled(self, module_args, task_vars, timeout, interval, wait_for, expect):
        """Run the check until it passes, shows ``expect`` or a final diagnosis, or ``timeout`` is spent."""
        host = task_vars.get("inventory_hostname", "") if task_vars else ""
        start = time.monotonic()
        seen = []
        while True:
            answer = self._execute_module(module_name="keyless.wif.wif_credentials_check", module_args=module_args,
                                          task_vars=task_vars)
            code = (answer.get("diagnosis") or {}).get("code")
            waited = time.monotonic() - start
            if answer.get("ok") or not code or code == expect or code not in wait_for:
                return answer, waited, seen
            if code not in seen:
                seen.append(code)
            if waited + interval > timeout:
                return answer, waited, seen
            display.display("%s: waiting for %s (%d s of %d s): %s" % (host, waiting_for(code), waited, timeout, code))
            time.sleep(interval)


def _truthy(value):
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)
