"""Role keyless.wif.gcp_federation: Cloud Audit Logs of STS and IAM Credentials (gcp_federation_audit_logs)."""

from __future__ import annotations

from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, changed_tasks, federation_role_task

ROLES = ["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT]
ALL_TYPES = [{"logType": "ADMIN_READ"}, {"logType": "DATA_WRITE"}, {"logType": "DATA_READ"}]
STORAGE = {"service": "storage.googleapis.com", "auditLogConfigs": [{"logType": "DATA_READ"}]}
TASK = "keyless.wif.gcp_federation : Enable Cloud Audit Logs of token exchanges and impersonation"


def role_task(**variables):
    return federation_role_task(**{"gcp_federation_project": PROJECT_ID, "gcp_federation_pool_id": "audit-test",
                                   "gcp_federation_aws_role_arns": ROLES, **variables})


def audit_configs(emu):
    return emu.state()["projects"][PROJECT_ID]["iam_policy"].get("auditConfigs", [])


def audit_writes(emu):
    return [w for w in emu.writes() if w["path"].endswith(":setIamPolicy") and (w["body"] or {}).get("updateMask")]


def test_role_enables_the_logs_keeps_others_and_a_second_run_changes_nothing(emu, play):
    existing = play([{"name": "storage audit", "keyless.wif.gcp_project_audit_config": {
        "service": "storage.googleapis.com", "log_types": ["DATA_READ"]}}])
    assert existing.rc == 0, existing.output[-4000:]

    first = play([role_task()])
    assert first.rc == 0, first.output[-4000:]
    assert TASK in changed_tasks(first)
    assert [(r["item"]["service"], r["changed"]) for r in first[TASK]["result"]["results"]] == [
        ("sts.googleapis.com", True), ("iamcredentials.googleapis.com", True)]
    assert audit_configs(emu) == [STORAGE,
                                  {"service": "sts.googleapis.com", "auditLogConfigs": ALL_TYPES},
                                  {"service": "iamcredentials.googleapis.com", "auditLogConfigs": ALL_TYPES}]
    assert all(w["body"]["updateMask"] == "auditConfigs,etag" for w in audit_writes(emu))

    writes_before = len(emu.writes())
    second = play([role_task()])
    assert second.rc == 0, second.output[-4000:]
    assert changed_tasks(second) == []
    assert len(emu.writes()) == writes_before
    assert [r["changed"] for r in second[TASK]["result"]["results"]] == [False, False]

    # Teardown removes the role's resources and grants (bindings-only writes), not the project's audit config.
    gone = play([role_task(gcp_federation_state="absent")])
    assert gone.rc == 0, gone.output[-4000:]
    assert changed_tasks(gone)
    assert TASK not in [r["task"] for r in gone.records]
    assert [c["service"] for c in audit_configs(emu)] == ["storage.googleapis.com", "sts.googleapis.com",
                                                          "iamcredentials.googleapis.com"]


def test_fewer_log_types_and_switched_off(emu, play):
    first = play([role_task(gcp_federation_audit_log_types=["ADMIN_READ"])])
    assert first.rc == 0, first.output[-4000:]
    assert [c["auditLogConfigs"] for c in audit_configs(emu)] == [[{"logType": "ADMIN_READ"}]] * 2

    emu.reset()
    off = play([role_task(gcp_federation_audit_logs=False)])
    assert off.rc == 0, off.output[-4000:]
    assert audit_configs(emu) == []
    assert audit_writes(emu) == []
    assert [r["status"] for r in off.all(TASK)] in ([], ["skipped"])


def test_bad_log_type_fails_naming_the_variable_before_any_write(emu, play):
    for value, field in ((["DATA_EVERYTHING"], "gcp_federation_audit_log_types"),
                         ([], "gcp_federation_audit_log_types"),
                         (["DATA_READ", "DATA_READ"], "gcp_federation_audit_log_types[1]")):
        result = play([role_task(gcp_federation_audit_log_types=value)])
        assert result.rc != 0
        assert field in result.output, result.output[-3000:]
        assert emu.writes() == []
