"""Injected faults: transient errors are retried, slow operations time out naming the operation,
and a failed task leaves nothing half-written."""

from __future__ import annotations

from .gcp_harness import PROJECT_ID

POOL = {"pool_id": "fault-pool", "display_name": "faults"}


def t(name, module, args, **extra):
    return dict({"name": name, "keyless.wif." + module: args}, **extra)


def test_transient_errors_then_success(play, emu):
    emu.fault(route="iam.projects.locations.workloadIdentityPools.get", status=503, count=2)
    emu.fault(route="cloudresourcemanager.projects.setIamPolicy", status=429, count=1)
    result = play([
        t("pool through two 503s", "gcp_workload_identity_pool", POOL),
        t("binding through a 429", "gcp_project_iam_member", {"role": "roles/viewer", "members": ["user:a@example.com"]}),
    ])
    assert result.rc == 0, result.output[-3000:]
    pool = result["pool through two 503s"]
    assert pool["status"] == "changed"
    assert [r["http_status"] for r in pool["result"]["retries_used"]] == [503, 503]
    binding = result["binding through a 429"]
    assert binding["status"] == "changed"
    assert [r["http_status"] for r in binding["result"]["retries_used"]] == [429]
    routes = emu.stats()["routes"]
    assert routes["GET iam.projects.locations.workloadIdentityPools.get"]["status"]["503"] == 2
    assert routes["POST cloudresourcemanager.projects.setIamPolicy"]["status"] == {"429": 1, "200": 1}
    policy = emu.state()["projects"][PROJECT_ID]["iam_policy"]
    assert any(b["role"] == "roles/viewer" and b["members"] == ["user:a@example.com"] for b in policy["bindings"])


def test_slow_operation_times_out_naming_it_and_stops(play, emu):
    setup = play([t("create", "gcp_workload_identity_pool", POOL),
                  t("delete", "gcp_workload_identity_pool", dict(POOL, state="absent"))])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(route="iam.projects.locations.workloadIdentityPools.undelete", slow_operation_polls=1000)
    result = play([
        t("undelete too slow", "gcp_workload_identity_pool", dict(POOL, description="changed", wait_timeout=2),
          ignore_errors=True),
    ])
    rec = result["undelete too slow"]
    assert rec["status"] == "failed"
    msg = rec["result"]["msg"]
    operation = rec["result"]["operation"]
    assert "/workloadIdentityPools/fault-pool/operations/" in operation
    assert operation in msg and "wait_timeout=2s" in msg and "\n" not in msg
    assert msg.startswith("undelete workload identity pool projects/%s/" % PROJECT_ID)
    # Nothing after the stuck step was sent: no PATCH of the description.
    writes = emu.during(rec, writes_only=True)
    assert [w["path"].rsplit("/", 1)[-1] for w in writes] == ["fault-pool:undelete"]
    assert rec["result"]["writes_done"] == ["POST v1/projects/%s/locations/global/workloadIdentityPools/fault-pool:undelete"
                                            % PROJECT_ID]
    assert rec["result"]["changed"] is True
    pool = next(iter(emu.state()["pools"].values()))
    assert pool.get("description", "") == ""


def test_exhausted_retries_fail_in_one_line_and_write_nothing(play, emu):
    before = emu.state()["projects"][PROJECT_ID]["iam_policy"]
    emu.fault(route="cloudresourcemanager.projects.setIamPolicy", status=503, count=100)
    result = play([
        t("binding against a dead API", "gcp_project_iam_member",
          {"role": "roles/viewer", "members": ["user:b@example.com"], "retries": 2}, ignore_errors=True),
    ])
    rec = result["binding against a dead API"]
    assert rec["status"] == "failed"
    msg = rec["result"]["msg"]
    assert msg.startswith("set IAM policy of projects/%s failed: HTTP 503 UNAVAILABLE" % PROJECT_ID), msg
    assert "\n" not in msg and "module_stderr" not in rec["result"]
    assert rec["result"]["http_status"] == 503 and rec["result"]["google_status"] == "UNAVAILABLE"
    assert rec["result"]["changed"] is False
    assert emu.stats()["routes"]["POST cloudresourcemanager.projects.setIamPolicy"]["count"] == 3
    assert emu.state()["projects"][PROJECT_ID]["iam_policy"] == before


def test_api_error_is_one_clear_line(play, emu):
    result = play([
        t("provider in missing pool", "gcp_workload_identity_pool_provider",
          {"pool_id": "no-such-pool", "provider_id": "aws-provider", "account_id": "111111111111"}, ignore_errors=True),
        t("policy of missing account", "gcp_service_account_iam_member",
          {"service_account": "no-such-account", "role": "roles/iam.workloadIdentityUser",
           "members": ["user:a@example.com"], "consistency_timeout": 3}, ignore_errors=True),
    ])
    # A new account's policy answers 404 for a while, so a missing one is waited for, within the bound.
    assert "consistency_timeout=3s" in result["policy of missing account"]["result"]["msg"]
    for name, google_status in (("provider in missing pool", "NOT_FOUND"), ("policy of missing account", "NOT_FOUND")):
        rec = result[name]
        assert rec["status"] == "failed"
        msg = rec["result"]["msg"]
        assert "HTTP 404 %s" % google_status in msg and "\n" not in msg, msg
        assert rec["result"]["resource"] in msg
