"""Every module against the emulator: check -> apply -> check -> apply, then one field changed.

One ansible-playbook run drives all modules (startup cost paid once); each test below asserts
on its module's tasks and on the requests the emulator saw while those tasks ran.
"""

from __future__ import annotations

import pytest

from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, PROJECT_NUMBER, run_play

SA_EMAIL = "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID
POOL_PATH = "projects/%s/locations/global/workloadIdentityPools/aws-pool" % PROJECT_NUMBER
ROLE_MEMBER = ("principalSet://iam.googleapis.com/%s/attribute.aws_role/arn:aws:sts::%s:assumed-role/wif-bound-role"
               % (POOL_PATH, AWS_ACCOUNT))

# module -> (arguments, arguments with one field changed)
CASES = {
    "gcp_project_service": (
        {"services": ["sts.googleapis.com", "iamcredentials.googleapis.com"]},
        {"services": ["sts.googleapis.com", "iamcredentials.googleapis.com", "aiplatform.googleapis.com"]},
    ),
    "gcp_service_account": (
        {"account_id": "litellm-vertex", "display_name": "LiteLLM", "description": "first"},
        {"account_id": "litellm-vertex", "display_name": "LiteLLM", "description": "second"},
    ),
    "gcp_workload_identity_pool": (
        {"pool_id": "aws-pool", "display_name": "AWS", "description": "first"},
        {"pool_id": "aws-pool", "display_name": "AWS", "description": "second"},
    ),
    "gcp_workload_identity_pool_provider": (
        {"pool_id": "aws-pool", "provider_id": "aws-provider", "account_id": AWS_ACCOUNT, "display_name": "AWS prod",
         "attribute_condition": "attribute.aws_role.startsWith('arn:aws:sts::%s:')" % AWS_ACCOUNT},
        {"pool_id": "aws-pool", "provider_id": "aws-provider", "account_id": AWS_ACCOUNT, "display_name": "AWS prod",
         "attribute_condition": "attribute.aws_role == 'arn:aws:sts::%s:assumed-role/wif-bound-role'" % AWS_ACCOUNT},
    ),
    "gcp_project_iam_member": (
        {"role": "roles/aiplatform.user", "members": ["serviceAccount:" + SA_EMAIL]},
        {"role": "roles/aiplatform.user", "members": ["serviceAccount:" + SA_EMAIL, "user:alice@example.com"]},
    ),
    "gcp_service_account_iam_member": (
        {"service_account": "litellm-vertex", "role": "roles/iam.workloadIdentityUser", "pool": "aws-pool",
         "aws_role_arns": ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT]},
        {"service_account": "litellm-vertex", "role": "roles/iam.workloadIdentityUser", "pool": "aws-pool",
         "aws_role_arns": ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT,
                           "arn:aws:sts::%s:assumed-role/other-role" % AWS_ACCOUNT]},
    ),
}
STEPS = ("check", "apply", "check again", "apply again")
CONDITION = {"title": "until-2030", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}


def lifecycle_tasks():
    tasks = [{"name": "info", "keyless.wif.gcp_project_info": {}},
             {"name": "info check", "keyless.wif.gcp_project_info": {}, "check_mode": True}]
    for module, (args, changed) in CASES.items():
        for step in STEPS:
            tasks.append({"name": "%s %s" % (module, step), "keyless.wif." + module: args,
                          "check_mode": step.startswith("check"), "diff": True})
        tasks.append({"name": "%s change check" % module, "keyless.wif." + module: changed, "check_mode": True,
                      "diff": True})
        tasks.append({"name": "%s change" % module, "keyless.wif." + module: changed, "diff": True})
    conditional = {"role": "roles/viewer", "members": ["user:bob@example.com"], "condition": CONDITION}
    tasks += [
        {"name": "conditional binding", "keyless.wif.gcp_project_iam_member": conditional},
        {"name": "conditional binding again", "keyless.wif.gcp_project_iam_member": conditional},
        {"name": "same role without condition", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/viewer", "members": ["user:bob@example.com"]}},
        {"name": "remove member", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/aiplatform.user", "members": ["user:alice@example.com"], "state": "absent"}, "diff": True},
        {"name": "remove member again", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/aiplatform.user", "members": ["user:alice@example.com"], "state": "absent"}},
        {"name": "two roles in one write", "keyless.wif.gcp_project_iam_member": {"bindings": [
            {"role": "roles/logging.logWriter", "members": ["serviceAccount:" + SA_EMAIL]},
            {"role": "roles/monitoring.metricWriter", "members": ["serviceAccount:" + SA_EMAIL]}]}},
        {"name": "disable service", "keyless.wif.gcp_project_service": {
            "services": ["aiplatform.googleapis.com"], "state": "disabled"}},
        {"name": "disable service again", "keyless.wif.gcp_project_service": {
            "services": ["aiplatform.googleapis.com"], "state": "disabled"}},
    ]
    return tasks


@pytest.fixture(scope="module")
def lifecycle(emulator, tmp_path_factory):
    emulator.reset()
    result = run_play(emulator, tmp_path_factory.mktemp("lifecycle"), lifecycle_tasks())
    assert result.rc == 0, result.output[-4000:]
    return result, emulator


def test_project_info(lifecycle):
    result, emu = lifecycle
    for name in ("info", "info check"):
        rec = result[name]
        assert rec["status"] == "ok"
        assert rec["result"]["project_number"] == PROJECT_NUMBER
        assert rec["result"]["lifecycle_state"] == "ACTIVE"
        assert [r["method"] for r in emu.during(rec)] == ["GET"]


@pytest.mark.parametrize("module", list(CASES))
def test_check_apply_check_apply(lifecycle, module):
    result, emu = lifecycle
    statuses = [result["%s %s" % (module, step)]["status"] for step in STEPS]
    assert statuses == ["changed", "changed", "ok", "ok"]
    for step in ("check", "check again", "apply again"):
        assert emu.during(result["%s %s" % (module, step)], writes_only=True) == [], step
    assert emu.during(result["%s apply" % module], writes_only=True)
    # Check mode predicted the same managed state that apply produced.
    check_diff = result["%s check" % module]["result"]["diff"]["after"]
    apply_diff = result["%s apply" % module]["result"]["diff"]["after"]
    assert check_diff == apply_diff


@pytest.mark.parametrize("module", list(CASES))
def test_one_field_change_shows_diff(lifecycle, module):
    result, emu = lifecycle
    check = result["%s change check" % module]
    change = result["%s change" % module]
    assert check["status"] == change["status"] == "changed"
    assert emu.during(check, writes_only=True) == []
    diff = change["result"]["diff"]
    changed_keys = sorted(k for k in set(diff["before"]) | set(diff["after"])
                          if diff["before"].get(k) != diff["after"].get(k))
    assert len(changed_keys) == 1, diff
    assert check["result"]["diff"] == diff


def _single_write(emu, rec):
    writes = emu.during(rec, writes_only=True)
    assert len(writes) == 1, writes
    return writes[0]


def test_pool_patch_mask(lifecycle):
    result, emu = lifecycle
    write = _single_write(emu, result["gcp_workload_identity_pool change"])
    assert write["method"] == "PATCH" and write["query"]["updateMask"] == ["description"]
    assert write["body"] == {"description": "second"}
    assert result["gcp_workload_identity_pool change"]["result"]["actions"] == ["update description"]


def test_provider_patch_mask_and_audience(lifecycle):
    result, emu = lifecycle
    rec = result["gcp_workload_identity_pool_provider change"]
    write = _single_write(emu, rec)
    assert write["method"] == "PATCH" and write["query"]["updateMask"] == ["attributeCondition"]
    assert list(write["body"]) == ["attributeCondition"]
    assert rec["result"]["audience"] == "//iam.googleapis.com/%s/providers/aws-provider" % POOL_PATH
    # Created without attribute_mapping: Google's default was sent and compares equal afterwards.
    created = result["gcp_workload_identity_pool_provider apply"]["result"]
    assert created["workload_identity_pool_provider"]["attribute_mapping"]["google.subject"] == "assertion.arn"
    assert result["gcp_workload_identity_pool_provider check"]["result"]["audience"] == created["audience"]


def test_service_account_patch_mask_in_body(lifecycle):
    result, emu = lifecycle
    write = _single_write(emu, result["gcp_service_account change"])
    assert write["method"] == "PATCH" and write["query"] == {}
    assert write["body"]["updateMask"] == "description"
    assert write["body"]["serviceAccount"]["description"] == "second"
    applied = result["gcp_service_account apply"]["result"]
    assert applied["email"] == SA_EMAIL and applied["unique_id"]


def test_project_service_enables_only_the_new_service(lifecycle):
    result, emu = lifecycle
    write = _single_write(emu, result["gcp_project_service change"])
    assert write["path"].endswith("services:batchEnable")
    assert write["body"] == {"serviceIds": ["aiplatform.googleapis.com"]}


def test_iam_member_modules_write_policy_once(lifecycle):
    result, emu = lifecycle
    write = _single_write(emu, result["gcp_project_iam_member change"])
    assert write["path"] == "/v1/projects/%s:setIamPolicy" % PROJECT_ID
    binding = next(b for b in write["body"]["policy"]["bindings"] if b["role"] == "roles/aiplatform.user")
    assert sorted(binding["members"]) == sorted(["serviceAccount:" + SA_EMAIL, "user:alice@example.com"])
    assert any(b["role"] == "roles/owner" for b in write["body"]["policy"]["bindings"])  # untouched
    assert write["body"]["policy"]["etag"]

    rec = result["gcp_service_account_iam_member apply"]["result"]
    assert rec["members"] == [ROLE_MEMBER]
    assert len(rec["conversions"]) == 1 and "assumed-role/wif-bound-role" in rec["conversions"][0]
    assert any("converted" in w for w in rec.get("warnings", []))
    state = emu.state()
    sa = next(s for s in state["service_accounts"].values() if s["email"] == SA_EMAIL)
    members = [m for b in sa["iam_policy"]["bindings"] for m in b["members"]]
    assert ROLE_MEMBER in members and ROLE_MEMBER.replace("wif-bound-role", "other-role") in members


def test_conditional_binding_is_its_own_binding(lifecycle):
    result, emu = lifecycle
    assert [result[n]["status"] for n in ("conditional binding", "conditional binding again",
                                          "same role without condition")] == ["changed", "ok", "changed"]
    assert result["conditional binding"]["result"]["version"] == 3
    policy = emu.state()["projects"][PROJECT_ID]["iam_policy"]
    viewer = [b for b in policy["bindings"] if b["role"] == "roles/viewer"]
    assert len(viewer) == 2
    assert sorted(bool(b.get("condition")) for b in viewer) == [False, True]
    assert policy["version"] == 3


def test_absent_members_bindings_list_and_disabled_services(lifecycle):
    result, emu = lifecycle
    statuses = [result[n]["status"] for n in ("remove member", "remove member again", "two roles in one write",
                                              "disable service", "disable service again")]
    assert statuses == ["changed", "ok", "changed", "changed", "ok"]
    removed = result["remove member"]["result"]["diff"]
    assert removed == {"before": {"roles/aiplatform.user": ["user:alice@example.com"]},
                       "after": {"roles/aiplatform.user": []}}
    assert len(emu.during(result["two roles in one write"], writes_only=True)) == 1
    write = _single_write(emu, result["disable service"])
    assert write["path"].endswith("/services/aiplatform.googleapis.com:disable")
    policy = emu.state()["projects"][PROJECT_ID]["iam_policy"]
    holders = {b["role"]: b["members"] for b in policy["bindings"] if not b.get("condition")}
    assert holders["roles/aiplatform.user"] == ["serviceAccount:" + SA_EMAIL]
    assert holders["roles/logging.logWriter"] == holders["roles/monitoring.metricWriter"] == ["serviceAccount:" + SA_EMAIL]
    assert emu.state()["projects"][PROJECT_ID]["services"]["aiplatform.googleapis.com"] == "DISABLED"
