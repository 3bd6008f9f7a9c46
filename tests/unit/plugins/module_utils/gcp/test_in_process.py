"""InProcessModule validates, masks and reports as AnsibleModule does, for a module run in the worker."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.gcp import in_process
from ansible_collections.keyless.wif.plugins.module_utils.gcp.in_process import InProcessModule, ModuleDone
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import GcpModule

INTERNAL = {"_ansible_module_name": "keyless.wif.gcp_project_info", "_ansible_check_mode": False, "_ansible_diff": False}
SPEC = {"name": {"type": "str", "required": True}, "token": {"type": "str", "no_log": True},
        "count": {"type": "int", "default": 3}}


def done(call):
    with pytest.raises(ModuleDone) as exc:
        call()
    return exc.value.result


def test_defaults_types_and_flags_as_a_module_process_gets_them():
    module = InProcessModule(dict(INTERNAL, name="a", count="5", _ansible_check_mode=True, _ansible_diff=True), SPEC,
                             supports_check_mode=True)
    assert module.params == {"name": "a", "count": 5, "token": None}
    assert module.check_mode and module._diff


def test_a_missing_required_option_fails_with_ansible_s_message():
    result = done(lambda: InProcessModule(dict(INTERNAL), SPEC))
    assert result["failed"] and result["msg"] == "missing required arguments: name"


def test_an_unknown_option_fails_naming_the_module():
    result = done(lambda: InProcessModule(dict(INTERNAL, name="a", colour="red"), SPEC))
    assert result["msg"].startswith("Unsupported parameters for (keyless.wif.gcp_project_info) module: colour.")


def test_check_mode_without_support_is_skipped():
    result = done(lambda: InProcessModule(dict(INTERNAL, name="a", _ansible_check_mode=True), SPEC))
    assert result["skipped"]


def test_no_log_values_are_masked_everywhere_in_the_result():
    module = InProcessModule(dict(INTERNAL, name="a", token="s3cret-token"), SPEC)
    module.warn("saw s3cret-token")
    result = done(lambda: module.exit_json(changed=True, echo="s3cret-token"))
    assert "s3cret-token" not in repr(result)
    assert result["changed"] and result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["warnings"] == ["saw ********"]


def test_invocation_follows_ansible_core_s_inject_setting():
    module = InProcessModule(dict(INTERNAL, name="a", _ansible_inject_invocation=False), SPEC)
    assert "invocation" not in done(lambda: module.exit_json(invocation={"x": 1}))


def test_gcp_module_uses_the_stand_in_only_while_args_are_active():
    args = dict(INTERNAL, project="wif-sandbox", auth_kind="accesstoken", access_token="a-longer-token")
    with in_process.module_args(args):
        module = GcpModule(argument_spec={})
    assert isinstance(module._module, InProcessModule)
    assert module.params["project"] == "wif-sandbox" and module.params["retries"] == 8
    assert in_process.active_args() is None


def test_gcp_module_validation_failures_are_the_module_s_own():
    args = dict(INTERNAL, project="p", auth_kind="accesstoken", access_token="a-longer-token")
    with in_process.module_args(args):
        module = GcpModule(argument_spec={})
        result = done(lambda: module.run(lambda m: m.exit(False)))
    assert result["failed"] and result["field"] == "project"
    assert result["msg"].startswith("invalid input: project must be a project ID")
