"""A cloud that is slow to agree and writes whose answers get lost: every GCP module survives.

Each test sets the emulator's consistency delays (or a fault) as Google behaves and fails on the
code before the consistency work: there the first bindings after a create answered 400, a
replayed DELETE failed on 404, and a landed setIamPolicy reported changed=false.

The ``..._without_the_window_...`` tests turn the waiting off (``consistency_timeout: 0``, as the
code before it did not wait) and show that the same delays then fail.  Replayed writes have no
switch: tests/emulator/test_consistency.py ``test_commit_then_fail_applies_the_write_then_loses_the_answer``
shows the raw answers a naive retry meets (404, FAILED_PRECONDITION, 409).
"""

from __future__ import annotations

import time

import pytest

from .gcp_harness import AWS_ACCOUNT, PROJECT_ID, PROJECT_NUMBER, federation_role_task

SA_ID = "slow-sa"
SA_EMAIL = "%s@%s.iam.gserviceaccount.com" % (SA_ID, PROJECT_ID)
SA_MEMBER = "serviceAccount:" + SA_EMAIL
POOL = {"pool_id": "slow-pool", "display_name": "slow"}
# The delays of the sandbox and the molecule site scenario (tests/hosts/emulator-sandbox.yml).
SITE_DELAYS = dict(service_account_visibility_seconds=5, iam_propagation_seconds=20, provider_propagation_seconds=10,
                   service_enablement_seconds=5)


def t(name, module, args, **extra):
    return dict({"name": name, "keyless.wif." + module: args}, **extra)


def reasons(record):
    return [r.get("reason", "") for r in record["result"].get("retries_used", [])]


def disable_iam(play):
    setup = play([t("disable", "gcp_project_service", {"services": ["iam.googleapis.com"], "state": "disabled"})])
    assert setup.rc == 0, setup.output[-3000:]


def enable_iam_then_create(play, delays, create, **extra):
    """IAM off, then one play: enable it (it answers SERVICE_DISABLED for 4 s more) and create an account."""
    disable_iam(play)
    delays(service_enablement_seconds=4)
    return play([t("enable", "gcp_project_service", {"services": ["iam.googleapis.com"]}),
                 t("create", "gcp_service_account", create, **extra)])


def failed_tasks(result):
    return [r["task"] for r in result.records if r.get("status") == "failed"]


def federation():
    return federation_role_task(gcp_federation_project=PROJECT_ID, gcp_federation_pool_id="slow-role",
                                gcp_federation_aws_role_arns=["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT])


def test_without_the_window_the_role_fails_at_the_site_delays(emu, play, delays, monkeypatch):
    # Today's role with the waiting off fails where the role did before the consistency work; with
    # it, the role converges at these delays (test_verify_propagation.py
    # test_site_delays_first_run_converges_and_verifies).
    monkeypatch.setenv("GCP_CONSISTENCY_TIMEOUT", "0")
    delays(**SITE_DELAYS)
    result = play([federation()], timeout=400)
    assert result.rc != 0
    assert failed_tasks(result) == ["keyless.wif.gcp_federation : Grant the service account the Vertex roles"], \
        result.output[-4000:]
    # The create itself succeeded: with 0 it is not polled for (and so not reported failed).
    assert result["keyless.wif.gcp_federation : Create or update the service account AWS workloads impersonate"][
        "status"] == "changed"
    assert "does not exist" in result.output


def test_bindings_right_after_a_create_wait_for_the_account_to_become_visible(emu, play, delays):
    delays(service_account_visibility_seconds=5)
    started = time.monotonic()
    result = play([
        t("create", "gcp_service_account", {"account_id": SA_ID, "display_name": "slow"}),
        t("project binding", "gcp_project_iam_member", {"role": "roles/aiplatform.user", "members": [SA_MEMBER]}),
        t("account binding", "gcp_service_account_iam_member",
          {"service_account": SA_EMAIL, "role": "roles/iam.serviceAccountTokenCreator", "members": ["user:a@example.com"]}),
    ])
    assert result.rc == 0, result.output[-4000:]
    create = result["create"]
    assert create["status"] == "changed"
    # The create waited for its own GET, so the bindings after it found the account.
    assert any(reason.startswith("a new resource is not visible") for reason in reasons(create)), create["result"]
    assert result["project binding"]["status"] == "changed"
    assert result["account binding"]["status"] == "changed"
    assert time.monotonic() - started >= 5
    policy = emu.state()["projects"][PROJECT_ID]["iam_policy"]
    assert any(b["role"] == "roles/aiplatform.user" and SA_MEMBER in b["members"] for b in policy["bindings"])


def test_without_the_window_a_binding_right_after_a_create_fails(emu, play, delays):
    delays(service_account_visibility_seconds=5)
    started = time.monotonic()
    result = play([
        t("create", "gcp_service_account", {"account_id": SA_ID, "consistency_timeout": 0}),
        t("project binding", "gcp_project_iam_member",
          {"role": "roles/aiplatform.user", "members": [SA_MEMBER], "consistency_timeout": 0}, ignore_errors=True),
    ])
    # consistency_timeout 0 turns the waiting off: the create that succeeded is reported changed at once.
    create = result["create"]
    assert create["status"] == "changed", create["result"]
    assert create["result"]["email"] == SA_EMAIL and not reasons(create)
    rec = result["project binding"]
    assert rec["status"] == "failed"
    assert "does not exist" in rec["result"]["msg"]
    assert time.monotonic() - started < 5 + 30


def test_a_project_binding_naming_an_invisible_account_is_retried(emu, play, delays):
    # The account was made by another process (or an earlier, failed run): only the 400 is left.
    # Long enough to outlast the first play and the second one's start-up.
    delays(service_account_visibility_seconds=15)
    emu_create = play([t("create", "gcp_service_account", {"account_id": SA_ID, "consistency_timeout": 0},
                         ignore_errors=True)])
    assert emu_create["create"]["status"] in ("failed", "changed")
    result = play([t("project binding", "gcp_project_iam_member",
                     {"role": "roles/aiplatform.user", "members": [SA_MEMBER]})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["project binding"]
    assert rec["status"] == "changed"
    assert any(reason.startswith("a new service account is not visible") for reason in reasons(rec)), rec["result"]


def test_a_binding_naming_an_account_that_never_appears_fails_within_the_bound(emu, play):
    result = play([t("project binding", "gcp_project_iam_member",
                     {"role": "roles/aiplatform.user", "members": ["serviceAccount:nobody@%s.iam.gserviceaccount.com" % PROJECT_ID],
                      "consistency_timeout": 3}, ignore_errors=True)])
    rec = result["project binding"]
    assert rec["status"] == "failed"
    msg = rec["result"]["msg"]
    assert "does not exist" in msg and "consistency_timeout=3s" in msg
    assert rec["result"]["retries_used"]
    assert rec["result"]["changed"] is False


@pytest.mark.parametrize("how", [503, "reset"])
def test_a_delete_whose_answer_was_lost_is_a_change_not_a_failure(emu, play, how):
    setup = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(method="DELETE", path="/serviceAccounts/", commit_then_fail=how)
    result = play([t("delete", "gcp_service_account", {"account_id": SA_ID, "state": "absent"})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["delete"]
    assert rec["status"] == "changed"
    assert rec["result"]["retries_used"]
    assert not [a for a in emu.state()["service_accounts"].values() if a.get("email") == SA_EMAIL and not a.get("_deleted")]


@pytest.mark.parametrize("how", [503, "reset"])
def test_a_pool_delete_whose_answer_was_lost_is_a_change(emu, play, how):
    # The retried DELETE of a soft-deleted pool answers 400 FAILED_PRECONDITION: it had landed.
    setup = play([t("create", "gcp_workload_identity_pool", POOL)])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(method="DELETE", path="/workloadIdentityPools/[^/]+$", commit_then_fail=how)
    result = play([t("delete", "gcp_workload_identity_pool", dict(POOL, state="absent"))])
    assert result.rc == 0, result.output[-4000:]
    rec = result["delete"]
    assert rec["status"] == "changed"
    assert rec["result"]["retries_used"]
    assert next(iter(emu.state()["pools"].values()))["state"] == "DELETED"


@pytest.mark.parametrize("how", [503, "reset"])
def test_a_create_whose_answer_was_lost_is_a_change(emu, play, how):
    # The retried create answers 409 ALREADY_EXISTS: it had landed.
    emu.fault(route="iam.projects.serviceAccounts.create", commit_then_fail=how)
    result = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["create"]
    assert rec["status"] == "changed"
    assert rec["result"]["email"] == SA_EMAIL and rec["result"]["retries_used"]
    again = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert again["create"]["status"] == "ok"
    assert len([a for a in emu.state()["service_accounts"].values() if a.get("email") == SA_EMAIL]) == 1


def test_a_write_that_timed_out_but_landed_is_a_change(emu, play):
    # A real read timeout: every :disable answer comes after request_timeout, but the write lands.
    setup = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(method="POST", path=":disable$", latency_ms=2500, count=50)
    result = play([t("disable", "gcp_service_account", {"account_id": SA_ID, "disabled": True, "request_timeout": 1,
                                                           "retries": 2, "retry_timeout": 20})])
    # Let the emulator finish the late attempts before the next test resets it.
    time.sleep(3)
    assert result.rc == 0, result.output[-4000:]
    rec = result["disable"]
    assert rec["status"] == "changed"
    assert "Read timed out" in rec["result"]["write_landed_despite"]
    assert rec["result"]["service_account"]["disabled"] is True


def test_an_undelete_whose_answer_was_lost_is_a_change(emu, play):
    setup = play([t("create", "gcp_workload_identity_pool", POOL),
                  t("delete", "gcp_workload_identity_pool", dict(POOL, state="absent"))])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(route="iam.projects.locations.workloadIdentityPools.undelete", commit_then_fail=503)
    result = play([t("undelete", "gcp_workload_identity_pool", POOL)])
    assert result.rc == 0, result.output[-4000:]
    rec = result["undelete"]
    assert rec["status"] == "changed"
    assert rec["result"]["workload_identity_pool"]["state"] == "ACTIVE"
    assert next(iter(emu.state()["pools"].values()))["state"] == "ACTIVE"


def test_a_set_iam_policy_that_landed_before_a_503_reports_changed(emu, play):
    emu.fault(route="cloudresourcemanager.projects.setIamPolicy", commit_then_fail=503)
    result = play([t("binding", "gcp_project_iam_member", {"role": "roles/viewer", "members": ["user:landed@example.com"]})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["binding"]
    assert rec["status"] == "changed", rec["result"]
    assert [r["http_status"] for r in rec["result"]["retries_used"]][:1] == [503]
    again = play([t("binding", "gcp_project_iam_member", {"role": "roles/viewer", "members": ["user:landed@example.com"]})])
    assert again["binding"]["status"] == "ok"


def test_when_every_answer_is_lost_a_re_read_tells_that_the_write_landed(emu, play):
    setup = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(method="POST", path=":disable$", commit_then_fail=503, count=50)
    result = play([t("disable", "gcp_service_account",
                     {"account_id": SA_ID, "disabled": True, "retries": 2, "retry_timeout": 10})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["disable"]
    assert rec["status"] == "changed"
    assert "HTTP 503" in rec["result"]["write_landed_despite"]
    assert rec["result"]["service_account"]["disabled"] is True


def test_a_failed_write_that_did_not_land_says_not_changed_with_its_retries(emu, play):
    setup = play([t("create", "gcp_service_account", {"account_id": SA_ID})])
    assert setup.rc == 0, setup.output[-3000:]
    emu.fault(method="POST", path=":disable$", status=503, count=50)
    result = play([t("disable", "gcp_service_account",
                     {"account_id": SA_ID, "disabled": True, "retries": 2, "retry_timeout": 10}, ignore_errors=True)])
    rec = result["disable"]
    assert rec["status"] == "failed"
    assert rec["result"]["changed"] is False
    assert [r["http_status"] for r in rec["result"]["retries_used"]][:2] == [503, 503]


@pytest.mark.parametrize("kind", ["in_progress", "160009"])
def test_service_usage_busy_errors_are_retried(emu, play, kind):
    emu.fault(route="serviceusage.services.batchEnable", service_usage_error=kind, count=2)
    result = play([t("enable", "gcp_project_service", {"services": ["aiplatform.googleapis.com", "sts.googleapis.com"]})])
    assert result.rc == 0, result.output[-4000:]
    rec = result["enable"]
    assert rec["status"] == "changed"
    assert len([r for r in rec["result"]["retries_used"] if r.get("reason")]) == 2
    services = emu.state()["projects"][PROJECT_ID]["services"]
    assert "aiplatform.googleapis.com" in str(services)


@pytest.mark.parametrize("kind", ["in_progress", "160009"])
def test_without_the_window_service_usage_busy_errors_fail(emu, play, kind):
    emu.fault(route="serviceusage.services.batchEnable", service_usage_error=kind, count=2)
    result = play([t("enable", "gcp_project_service", {"services": ["aiplatform.googleapis.com", "sts.googleapis.com"],
                                                         "consistency_timeout": 0}, ignore_errors=True)])
    rec = result["enable"]
    assert rec["status"] == "failed"
    assert ("Another activation or deactivation is in progress" if kind == "in_progress" else "160009") in rec["result"]["msg"]


def test_check_mode_binding_on_a_predicted_account_predicts_instead_of_failing(emu, play):
    result = play([t("binding", "gcp_service_account_iam_member",
                     {"service_account": SA_ID, "role": "roles/iam.workloadIdentityUser",
                      "members": ["principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/p/*"
                                  % PROJECT_NUMBER]})],
                  extra_args=("--check",))
    assert result.rc == 0, result.output[-4000:]
    assert result["binding"]["status"] == "changed"
    assert emu.writes() == []


def test_an_api_that_was_just_enabled_is_waited_for(emu, play, delays):
    result = enable_iam_then_create(play, delays, {"account_id": SA_ID})
    assert result.rc == 0, result.output[-4000:]
    rec = result["create"]
    assert rec["status"] == "changed"
    assert any("iam.googleapis.com was enabled but has not propagated yet" in reason for reason in reasons(rec)), rec["result"]


def test_without_the_window_an_api_that_was_just_enabled_fails(emu, play, delays):
    result = enable_iam_then_create(play, delays, {"account_id": SA_ID, "consistency_timeout": 0}, ignore_errors=True)
    assert result["enable"]["status"] == "changed"
    rec = result["create"]
    assert rec["status"] == "failed"
    assert "HTTP 403" in rec["result"]["msg"] and "SERVICE_DISABLED" in str(rec["result"]["error_details"])


def test_an_api_that_is_disabled_fails_at_once(emu, play):
    disable_iam(play)
    started = time.monotonic()
    result = play([t("create", "gcp_service_account", {"account_id": SA_ID}, ignore_errors=True)])
    rec = result["create"]
    assert rec["status"] == "failed"
    assert "HTTP 403" in rec["result"]["msg"] and "SERVICE_DISABLED" in str(rec["result"]["error_details"])
    assert not reasons(rec)
    assert time.monotonic() - started < 30
