# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action plugin of every keyless.wif GCP module: run it in the controller's worker when that is the same.

A GCP module only talks to Google APIs, and is nearly always run on the controller
(``hosts: localhost`` or ``delegate_to: localhost``).  There, a module process costs more than
the module's work: Ansible builds its payload (once per distinct module and run) and starts a
Python that imports ansible.module_utils again.  When the task would run the module with the
controller's own Python, on the local connection, without become or async, this plugin runs the
module's main() in the worker process Ansible has already forked for the task, with the same
arguments, environment, check and diff mode (module_utils/gcp/in_process.py).  Otherwise, or
with ``keyless_wif_gcp_in_process: false``, it runs the module as usual.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible_collections.keyless.wif.plugins.module_utils.gcp import in_process

try:  # ansible-core 2.19 and later: the encoder and decoder of a module process's arguments
    from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder
    LEGACY_ENCODER = None
except ImportError:  # ansible-core before 2.19 encodes them with AnsibleJSONEncoder, the module reads plain JSON
    from ansible.module_utils.common.json import AnsibleJSONEncoder as LEGACY_ENCODER
    Direction = get_module_decoder = get_module_encoder = None

display = Display()

IN_PROCESS_VAR = "keyless_wif_gcp_in_process"
COLLECTION = "keyless.wif"


def same_python(interpreter, controller_python):
    """The same executable in the same directory: a venv's python and python3.11 are one; a symlink elsewhere is not
    (Python finds its venv, pyvenv.cfg, next to the path it was started by)."""
    interpreter = os.path.abspath(os.path.expanduser(interpreter))
    controller_python = os.path.abspath(controller_python)
    return (os.path.dirname(interpreter) == os.path.dirname(controller_python)
            and os.path.realpath(interpreter) == os.path.realpath(controller_python))


def module_process_args(args):
    """The arguments as a module process reads them from its stdin: plain JSON types, no templating or
    vault objects; dates become ISO strings, tuples lists, as ansible-core encodes them for a module process."""
    if LEGACY_ENCODER is not None:
        return json.loads(json.dumps(args, cls=LEGACY_ENCODER, vault_to_text=True))
    return json.loads(json.dumps(args, cls=get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)),
                      cls=get_module_decoder("legacy", Direction.CONTROLLER_TO_MODULE))


def module_process_reason(transport, become, async_val, interpreter, in_process_wanted, controller_python=None):
    """Why the module must run as a module process (a sentence), or None to run it in this process."""
    controller_python = controller_python or sys.executable
    if not in_process_wanted:
        return "%s is false" % IN_PROCESS_VAR
    if transport != "local":
        return "the connection is %s, not local" % transport
    if become:
        return "the task uses become"
    if async_val:
        return "the task is async"
    if not interpreter:
        return "ansible_python_interpreter is not set (the module would use a discovered Python)"
    if not same_python(interpreter, controller_python):
        return "ansible_python_interpreter is %s, not the controller's %s" % (interpreter, controller_python)
    return None


def in_process_setting(value):
    """keyless_wif_gcp_in_process as a boolean; anything else fails the task before the module runs."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleActionFail("invalid input: %s must be a boolean (true or false), got %r" % (IN_PROCESS_VAR, value)) from None


class GcpModuleAction(ActionBase):
    """Runs the keyless.wif GCP module of the task's name, in this process when that is the same."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        task_vars = task_vars or {}
        name = self._task.resolved_action or self._task.action
        reason = self._module_process_reason(name, task_vars)
        if reason:
            display.vvv("%s: runs as a module process: %s" % (name, reason))
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=self._task.async_val))
            if not self._task.async_val:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        display.vvv("%s: runs in the controller's worker process" % name)
        return merge_hash(result, self._run_in_process(name, task_vars))

    def _host_vars(self, task_vars):
        delegated = task_vars.get("ansible_delegated_vars") or {}
        if self._task.delegate_to and self._task.delegate_to in delegated:
            return delegated[self._task.delegate_to]  # ansible-core before 2.19
        return task_vars

    def _module_process_reason(self, name, task_vars):
        if not name.startswith(COLLECTION + "."):
            return "%s is not a %s module" % (name, COLLECTION)
        host_vars = self._host_vars(task_vars)
        interpreter = host_vars.get("ansible_python_interpreter")
        if interpreter is not None:
            interpreter = self._templar.template(interpreter)
        return module_process_reason(self._connection.transport, self._task.become, self._task.async_val,
                                     interpreter, in_process_setting(self._templar.template(host_vars.get(IN_PROCESS_VAR, True))))

    def _run_in_process(self, name, task_vars):
        args = dict(self._task.args)
        self._update_module_args(name, args, task_vars)
        args = module_process_args(args)
        environment = {}
        self._compute_environment_string(environment)
        saved = dict(os.environ)
        os.environ.update({k: str(v) for k, v in environment.items()})
        try:
            module = importlib.import_module("ansible_collections.%s.plugins.modules.%s"
                                             % (COLLECTION, name.rsplit(".", 1)[1]))
            with in_process.module_args(args):
                module.main()
        except in_process.ModuleDone as done:
            return done.result
        except Exception as exc:  # noqa: BLE001 - a module bug is a failed task, as in a module process
            return {"failed": True, "msg": "MODULE FAILURE: %s: %s" % (type(exc).__name__, exc),
                    "exception": traceback.format_exc()}
        except SystemExit as exc:
            return {"failed": True, "msg": "MODULE FAILURE: exited (%s) without a result" % exc.code}
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return {"failed": True, "msg": "MODULE FAILURE: %s returned without a result" % name}
