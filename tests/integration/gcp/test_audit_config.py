"""gcp_project_audit_config against the emulator: the four steps, diff, masks, additivity, bad inputs."""

from __future__ import annotations

import pytest

from .gcp_harness import PROJECT_ID

STS = "sts.googleapis.com"
STEPS = ("check", "apply", "check again", "apply again")
EXEMPT = "serviceAccount:monitor@%s.iam.gserviceaccount.com" % PROJECT_ID


def _policy(emu):
    return emu.state()["projects"][PROJECT_ID]["iam_policy"]


def test_four_steps_diff_and_mask(emu, play):
    args = {"service": STS, "log_types": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]}
    tasks = [{"name": "audit %s" % step, "keyless.wif.gcp_project_audit_config": args,
              "check_mode": step.startswith("check"), "diff": True} for step in STEPS]
    changed = dict(args, log_types=["DATA_READ"], exempted_members=[EXEMPT])
    tasks += [
        {"name": "exempt check", "keyless.wif.gcp_project_audit_config": changed, "check_mode": True, "diff": True},
        {"name": "exempt", "keyless.wif.gcp_project_audit_config": changed, "diff": True},
        {"name": "binding after audit", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/viewer", "members": ["user:carol@example.com"]}},
        {"name": "drop data read", "keyless.wif.gcp_project_audit_config": {
            "service": STS, "log_types": ["DATA_READ"], "state": "absent"}, "diff": True},
        {"name": "drop data read again", "keyless.wif.gcp_project_audit_config": {
            "service": STS, "log_types": ["DATA_READ"], "state": "absent"}},
        {"name": "other service", "keyless.wif.gcp_project_audit_config": {
            "service": "allServices", "log_types": ["ADMIN_READ"]}},
        {"name": "drop sts", "keyless.wif.gcp_project_audit_config": {"service": STS, "state": "absent"}},
        {"name": "drop sts again", "keyless.wif.gcp_project_audit_config": {"service": STS, "state": "absent"}},
    ]
    result = play(tasks)
    assert result.rc == 0, result.output[-4000:]

    assert [result["audit %s" % s]["status"] for s in STEPS] == ["changed", "changed", "ok", "ok"]
    for step in ("check", "check again", "apply again"):
        assert emu.during(result["audit %s" % step], writes_only=True) == [], step
    writes = emu.during(result["audit apply"], writes_only=True)
    assert len(writes) == 1
    assert writes[0]["path"] == "/v1/projects/%s:setIamPolicy" % PROJECT_ID
    assert writes[0]["body"]["updateMask"] == "auditConfigs,etag"
    applied = result["audit apply"]["result"]
    expected = {"service": STS, "audit_log_configs": [
        {"log_type": t, "exempted_members": []} for t in ("ADMIN_READ", "DATA_WRITE", "DATA_READ")]}
    assert applied["audit_config"] == expected
    assert applied["log_types"] == ["ADMIN_READ", "DATA_WRITE", "DATA_READ"]
    assert applied["diff"] == {"before": {}, "after": expected}
    assert result["audit check"]["result"]["diff"] == applied["diff"]
    assert applied["etag"] != result["audit check"]["result"]["etag"]

    exempt = result["exempt"]
    assert exempt["status"] == result["exempt check"]["status"] == "changed"
    assert result["exempt check"]["result"]["diff"] == exempt["result"]["diff"]
    assert exempt["result"]["audit_config"]["audit_log_configs"][2] == {"log_type": "DATA_READ",
                                                                         "exempted_members": [EXEMPT]}

    # A bindings write (default mask) left the audit config in place.
    assert result["binding after audit"]["status"] == "changed"
    assert result["drop data read"]["result"]["log_types"] == ["ADMIN_READ", "DATA_WRITE"]
    assert result["drop data read again"]["status"] == "ok"
    assert [result[n]["status"] for n in ("other service", "drop sts", "drop sts again")] == ["changed", "changed", "ok"]
    assert result["drop sts"]["result"]["audit_config"] is None

    policy = _policy(emu)
    assert policy["auditConfigs"] == [{"service": "allServices", "auditLogConfigs": [{"logType": "ADMIN_READ"}]}]
    assert {"role": "roles/viewer", "members": ["user:carol@example.com"]} in policy["bindings"]
    assert any(b["role"] == "roles/owner" for b in policy["bindings"])


def test_iam_member_keeps_audit_configs(emu, play):
    result = play([
        {"name": "audit", "keyless.wif.gcp_project_audit_config": {"service": STS}},
        {"name": "grant", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/aiplatform.user", "members": ["user:dave@example.com"]}},
        {"name": "revoke", "keyless.wif.gcp_project_iam_member": {
            "role": "roles/aiplatform.user", "members": ["user:dave@example.com"], "state": "absent"}},
        {"name": "audit again", "keyless.wif.gcp_project_audit_config": {"service": STS}},
    ])
    assert result.rc == 0, result.output[-4000:]
    assert [result[n]["status"] for n in ("audit", "grant", "revoke", "audit again")] == ["changed"] * 3 + ["ok"]
    assert [c["service"] for c in _policy(emu)["auditConfigs"]] == [STS]


def test_etag_conflict_is_redone(emu, play):
    emu.fault(route="cloudresourcemanager.projects.setIamPolicy", etag_conflict=True, count=1)
    result = play([{"name": "audit", "keyless.wif.gcp_project_audit_config": {"service": STS}}])
    assert result.rc == 0, result.output[-4000:]
    rec = result["audit"]["result"]
    assert rec["changed"] is True
    assert [r["google_status"] for r in rec["retries_used"]] == ["ABORTED"]
    assert _policy(emu)["auditConfigs"][0]["service"] == STS


@pytest.mark.parametrize(("args", "field"), [
    ({"service": "sts"}, "service"),
    ({"service": STS, "log_types": ["DATA_EVERYTHING"]}, "log_types"),
    ({"service": STS, "log_types": ["DATA_READ", "DATA_READ"]}, "log_types[1]"),
    ({"service": STS, "exempted_members": ["bob@example.com"]}, "exempted_members[0]"),
    ({"service": STS, "exempted_members": [EXEMPT], "state": "absent"}, "exempted_members"),
])
def test_bad_inputs_fail_before_any_request(emu, play, args, field):
    result = play([{"name": "bad", "keyless.wif.gcp_project_audit_config": args}])
    rec = result["bad"]
    assert rec["status"] == "failed"
    assert field in rec["result"]["msg"]
    assert emu.requests() == []
