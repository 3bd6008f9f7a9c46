"""When a keyless.wif GCP module may run in the controller's worker, and why not otherwise."""

from __future__ import annotations

import datetime
import os

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.keyless.wif.plugins.plugin_utils.gcp_action import (
    in_process_setting,
    module_process_args,
    module_process_reason,
    same_python,
)


def reason(**overrides):
    args = dict(transport="local", become=False, async_val=0, interpreter="/venv/bin/python3.11", in_process_wanted=True,
                controller_python="/venv/bin/python3.11")
    args.update(overrides)
    return module_process_reason(**args)


def test_local_connection_with_the_controller_s_python_runs_in_process():
    assert reason() is None


def test_every_other_case_names_its_reason():
    assert reason(in_process_wanted=False) == "keyless_wif_gcp_in_process is false"
    assert reason(transport="ssh") == "the connection is ssh, not local"
    assert reason(become=True) == "the task uses become"
    assert reason(async_val=30) == "the task is async"
    assert "discovered Python" in reason(interpreter=None)
    assert reason(interpreter="/usr/bin/python3") == ("ansible_python_interpreter is /usr/bin/python3, "
                                                      "not the controller's /venv/bin/python3.11")


def test_the_same_venv_under_another_name_is_the_same_python(tmp_path):
    real = tmp_path / "venv" / "bin" / "python3.11"
    real.parent.mkdir(parents=True)
    real.write_text("")
    os.symlink(real.name, real.with_name("python"))
    elsewhere = tmp_path / "python"
    os.symlink(real, elsewhere)
    assert same_python(str(real.with_name("python")), str(real))
    assert same_python(str(tmp_path / "venv" / "bin" / ".." / "bin" / "python3.11"), str(real))
    # a link elsewhere starts without the venv's pyvenv.cfg, so not the controller's packages
    assert not same_python(str(elsewhere), str(real))


def test_the_variable_takes_ansible_booleans_and_refuses_anything_else():
    assert in_process_setting("no") is False and in_process_setting(True) is True
    with pytest.raises(AnsibleActionFail, match=r"keyless_wif_gcp_in_process must be a boolean \(true or false\), got 'sometimes'"):
        in_process_setting("sometimes")


def test_arguments_become_what_a_module_process_reads():
    args = {"when": datetime.datetime(2026, 12, 3, 6, 0), "day": datetime.date(2026, 12, 3), "pair": ("a", "b"),
            "nested": {"n": 1, "ok": True, "none": None}}
    assert module_process_args(args) == {"when": "2026-12-03T06:00:00", "day": "2026-12-03", "pair": ["a", "b"],
                                         "nested": {"n": 1, "ok": True, "none": None}}
