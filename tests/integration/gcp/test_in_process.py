"""The GCP modules run in the controller's worker (plugin_utils/gcp_action.py) and as module processes alike.

The whole lifecycle play (every module: check, apply, check, apply, a change) plus bad inputs runs
both ways against the same seed state; every task must end the same: status, changed, diff,
result keys, and for failures the message, field and rule.
"""

from __future__ import annotations

import pytest

from .gcp_harness import ADMIN_TOKEN, module_defaults, run_play
from .test_lifecycle import lifecycle_tasks

BAD_INPUTS = [
    {"name": "bad project", "keyless.wif.gcp_project_info": {"project": "p"}},
    {"name": "unknown option", "keyless.wif.gcp_project_info": {"colour": "red"}},
    {"name": "missing option", "keyless.wif.gcp_workload_identity_pool": {"display_name": "AWS"}},
    {"name": "bad choice", "keyless.wif.gcp_project_service": {"services": ["iam.googleapis.com"], "state": "maybe"}},
    {"name": "bad account id", "keyless.wif.gcp_service_account": {"account_id": "X"}},
]
VOLATILE = ("etag", "unique_id", "oauth2_client_id", "retries_used", "invocation", "warnings")


def tasks():
    return lifecycle_tasks() + [dict(task, ignore_errors=True) for task in BAD_INPUTS]


def outcome(record):
    result = record["result"]
    return {"status": record["status"], "changed": result.get("changed"), "diff": result.get("diff"),
            "keys": sorted(k for k in result if k not in VOLATILE and not k.startswith("_ansible")),
            "failure": [result.get(k) for k in ("msg", "field", "rule")] if result.get("failed") else None}


@pytest.fixture(scope="module")
def both_ways(emulator, tmp_path_factory):
    runs = {}
    for name, extra in (("in process", ()), ("module processes", ("-e", "keyless_wif_gcp_in_process=false"))):
        emulator.reset()
        runs[name] = run_play(emulator, tmp_path_factory.mktemp(name.replace(" ", "-")), tasks(),
                              extra_args=(*extra, "-vvv"), timeout=600)
        assert runs[name].rc == 0, runs[name].output[-4000:]
    return runs


def test_every_task_ends_the_same_both_ways(both_ways):
    ours, theirs = both_ways["in process"], both_ways["module processes"]
    assert [r["task"] for r in ours.records] == [r["task"] for r in theirs.records]
    for mine, other in zip(ours.records, theirs.records, strict=True):
        assert outcome(mine) == outcome(other), mine["task"]
    assert [r["status"] for r in ours.records[-len(BAD_INPUTS):]] == ["failed"] * len(BAD_INPUTS)


def test_bad_inputs_name_the_field_and_rule_in_process(both_ways):
    result = both_ways["in process"]
    assert result["bad project"]["result"]["field"] == "project"
    assert result["unknown option"]["result"]["msg"].startswith(
        "Unsupported parameters for (keyless.wif.gcp_project_info) module: colour.")
    assert "missing required arguments: pool_id" in result["missing option"]["result"]["msg"]


def test_each_run_says_where_its_modules_ran(both_ways):
    inside, outside = both_ways["in process"].output, both_ways["module processes"].output
    assert "keyless.wif.gcp_project_info: runs in the controller's worker process" in inside
    assert "runs as a module process" not in inside
    assert "keyless.wif.gcp_project_info: runs as a module process: keyless_wif_gcp_in_process is false" in outside
    assert "runs in the controller's worker" not in outside


def test_the_access_token_is_masked_in_process(both_ways):
    for record in both_ways["in process"].records:
        assert ADMIN_TOKEN not in repr(record["result"]), record["task"]


def test_an_async_task_runs_as_a_module_process(emu, tmp_path):
    read = {"keyless.wif.gcp_project_info": {}}
    result = run_play(emu, tmp_path, [dict(read, name="async read", **{"async": 60, "poll": 1})],
                      defaults=module_defaults(emu), extra_args=("-vvv",))
    assert result.rc == 0, result.output[-3000:]
    assert result["async read"]["result"]["project_number"]
    assert "runs as a module process: the task is async" in result.output


def test_environment_keyword_reaches_the_module_in_process(emu, tmp_path):
    # GCP_RETRIES is an env fallback of retries: the task's environment must reach the validation, and only that task.
    tasks_ = [{"name": "env read", "keyless.wif.gcp_project_info": {}, "environment": {"GCP_RETRIES": "-1"},
               "ignore_errors": True},
              {"name": "after", "keyless.wif.gcp_project_info": {}}]
    result = run_play(emu, tmp_path, tasks_, defaults=module_defaults(emu))
    assert result["env read"]["result"]["field"] == "retries"
    assert result["after"]["status"] == "ok"


def test_a_non_boolean_setting_fails_naming_the_variable_before_any_request(emu, tmp_path):
    before = emu.admin("GET", "stats")["totals"]
    result = run_play(emu, tmp_path, [{"name": "read", "keyless.wif.gcp_project_info": {}}], defaults=module_defaults(emu),
                      extra_args=("-e", "keyless_wif_gcp_in_process=sometimes"))
    assert result.rc != 0
    assert result["read"]["result"]["msg"] == ("invalid input: keyless_wif_gcp_in_process must be a boolean (true or false), "
                                               "got 'sometimes'")
    assert emu.admin("GET", "stats")["totals"] == before


def test_a_date_argument_reaches_the_module_as_a_module_process_reads_it(emu, tmp_path):
    # ansible-core encodes a date for a module process as an ISO string; in process it must arrive the same.
    task = {"name": "dated", "keyless.wif.gcp_service_account": {
        "account_id": "dated-sa", "display_name": "{{ '2026-12-03' | to_datetime('%Y-%m-%d') }}"}}
    names = {}
    for way, extra in (("in process", ()), ("module process", ("-e", "keyless_wif_gcp_in_process=false"))):
        emu.reset()
        (tmp_path / way.replace(" ", "-")).mkdir()
        result = run_play(emu, tmp_path / way.replace(" ", "-"), [task], defaults=module_defaults(emu), extra_args=extra)
        assert result["dated"]["status"] == "changed", result.output[-3000:]
        names[way] = result["dated"]["result"]["service_account"]["display_name"]
    assert names["in process"] == names["module process"]
    assert names["in process"].startswith("2026-12-03")
