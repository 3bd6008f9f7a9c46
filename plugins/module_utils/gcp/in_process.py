# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A GCP module's body run inside the controller's worker process, without a module process.

The GCP modules talk only to Google, so on a local connection the action plugin
(plugin_utils/gcp_action.py) runs their main() in the worker that Ansible forks for the task.
That saves the payload build and the Python start-up of a module process (most of a no-op
task's time).  InProcessModule is the part of AnsibleModule that GcpModule uses: the same
argument validation (ArgumentSpecValidator, which AnsibleModule itself uses), check and diff
mode, warnings, and no_log masking; exit_json and fail_json raise ModuleDone with the result.
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError

_ACTIVE_ARGS = []


class ModuleDone(Exception):
    """exit_json or fail_json was called: ``result`` is what the module would have printed."""

    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


@contextlib.contextmanager
def module_args(args):
    """While active, GcpModule builds an InProcessModule from ``args`` instead of an AnsibleModule."""
    _ACTIVE_ARGS.append(args)
    try:
        yield
    finally:
        _ACTIVE_ARGS.pop()


def active_args():
    """The arguments of the module run in this process, or None in a real module process."""
    return _ACTIVE_ARGS[-1] if _ACTIVE_ARGS else None


class InProcessModule:
    """What GcpModule needs of AnsibleModule, validated the way AnsibleModule validates."""

    def __init__(self, args, argument_spec, mutually_exclusive=None, required_together=None, required_one_of=None,
                 required_if=None, required_by=None, supports_check_mode=False):
        internal = {k: v for k, v in args.items() if k.startswith("_ansible_")}
        self._name = internal.get("_ansible_module_name") or "module"
        self._inject_invocation = internal.get("_ansible_inject_invocation", True)
        # ansible-core before 2.19 puts the traceback in the result at -vvv; later releases ask with tracebacks_for.
        self._traceback_in_result = ("_ansible_tracebacks_for" not in internal
                                     and (internal.get("_ansible_debug") or internal.get("_ansible_verbosity", 0) >= 3))
        self.check_mode = bool(internal.get("_ansible_check_mode"))
        self._diff = bool(internal.get("_ansible_diff"))
        self._warnings = []
        self.no_log_values = set()
        self.params = {k: v for k, v in args.items() if k not in internal}
        if self.check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg="module (%s) does not support check mode" % self._name)
        validator = ArgumentSpecValidator(argument_spec, mutually_exclusive=mutually_exclusive,
                                          required_together=required_together, required_one_of=required_one_of,
                                          required_if=required_if, required_by=required_by)
        result = validator.validate(self.params)
        self.params = result.validated_parameters
        self.no_log_values.update(result._no_log_values)
        for conflict in result._warnings:
            self.warn("Both option %s and its alias %s are set." % (conflict["option"], conflict["alias"]))
        for deprecation in result._deprecations:
            self.warn("Deprecated: %s" % deprecation["msg"])
        if result.errors.errors:
            msg = result.errors.msg
            if isinstance(result.errors.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (%s) module: %s" % (self._name, msg)
            self.fail_json(msg=msg)

    def warn(self, msg):
        self._warnings.append(msg)

    def _done(self, result):
        if self._inject_invocation:
            result.setdefault("invocation", {"module_args": self.params})
        else:
            result.pop("invocation", None)
        if self._warnings:
            result["warnings"] = list(self._warnings)
        raise ModuleDone(remove_values(result, self.no_log_values))

    def exit_json(self, **kwargs):
        self._done(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        if "exception" not in kwargs and self._traceback_in_result and sys.exc_info()[2]:
            kwargs["exception"] = "".join(traceback.format_tb(sys.exc_info()[2]))
        self._done(kwargs)
