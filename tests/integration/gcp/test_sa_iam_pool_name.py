"""gcp_service_account_iam_member: a pool given by ID costs a project read, a full pool name none."""

from __future__ import annotations

from .gcp_harness import AWS_ACCOUNT, OTHER_PROJECT_ID, OTHER_PROJECT_NUMBER, PROJECT_ID, PROJECT_NUMBER

SA_EMAIL = "pool-name-sa@%s.iam.gserviceaccount.com" % PROJECT_ID
ROLE_ARN = "arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT
BINDING = {"service_account": "pool-name-sa", "role": "roles/iam.workloadIdentityUser", "aws_role_arns": [ROLE_ARN]}


def project_reads(emu, record):
    """GETs of a project (CRM v1 projects.get) answered while the task ran."""
    return [r["path"] for r in emu.during(record) if r["method"] == "GET" and r["path"].startswith("/v1/projects/")
            and r["path"].count("/") == 3]


def principal(number, pool):
    return ("principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s"
            "/attribute.aws_role/arn:aws:sts::%s:assumed-role/wif-bound-role" % (number, pool, AWS_ACCOUNT))


def test_full_pool_name_needs_no_project_lookup(emu, play):
    result = play([
        {"name": "account", "keyless.wif.gcp_service_account": {"account_id": "pool-name-sa"}},
        {"name": "pool", "keyless.wif.gcp_workload_identity_pool": {"pool_id": "name-pool"}, "register": "pool"},
        {"name": "by id", "keyless.wif.gcp_service_account_iam_member": dict(BINDING, pool="name-pool")},
        {"name": "by name", "keyless.wif.gcp_service_account_iam_member": dict(BINDING, pool="{{ pool.name }}")},
        {"name": "other project by id", "keyless.wif.gcp_service_account_iam_member":
            dict(BINDING, pool="far-pool", pool_project=OTHER_PROJECT_ID)},
        {"name": "other project by name", "keyless.wif.gcp_service_account_iam_member":
            dict(BINDING, pool="projects/%s/locations/global/workloadIdentityPools/far-pool" % OTHER_PROJECT_NUMBER)},
    ])
    assert result.rc == 0, result.output[-4000:]

    by_id, by_name = result["by id"], result["by name"]
    assert by_id["result"]["changed"] is True
    assert by_name["result"]["changed"] is False  # the same principalSet, reached without the lookup
    assert by_id["result"]["members"] == by_name["result"]["members"] == [principal(PROJECT_NUMBER, "name-pool")]
    assert project_reads(emu, by_id) == ["/v1/projects/%s" % PROJECT_ID]
    assert project_reads(emu, by_name) == []

    far_id, far_name = result["other project by id"], result["other project by name"]
    assert far_id["result"]["members"] == far_name["result"]["members"] == [principal(OTHER_PROJECT_NUMBER, "far-pool")]
    assert far_id["result"]["changed"] is True
    assert far_name["result"]["changed"] is False
    assert project_reads(emu, far_id) == ["/v1/projects/%s" % OTHER_PROJECT_ID]
    assert project_reads(emu, far_name) == []

    accounts = [sa for sa in emu.state()["service_accounts"].values() if sa.get("email") == SA_EMAIL]
    members = [m for b in accounts[0]["iam_policy"]["bindings"] for m in b["members"]]
    assert sorted(members) == sorted([principal(PROJECT_NUMBER, "name-pool"), principal(OTHER_PROJECT_NUMBER, "far-pool")])
