"""The consistency window and replayed writes of GcpClient (scripted answers, fake clock)."""

from __future__ import annotations

import pytest
import requests
from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import GcpClient, Landed
from ansible_collections.keyless.wif.plugins.module_utils.gcp.consistency import (
    ConsistencyWindow,
    service_disabled,
    service_usage_busy,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError
from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RetryPolicy
from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import (
    FakeClock,
    FakeResponse,
    ScriptedSession,
    google_error,
)

ENDPOINTS = {"iam": "http://emu", "cloudresourcemanager": "http://emu", "serviceusage": "http://emu"}
SA = "litellm-vertex@wif-sandbox.iam.gserviceaccount.com"


def make_client(answers, consistency_timeout=120.0, check_mode=False):
    clock = FakeClock()
    policy = RetryPolicy(retries=8, max_total=120.0, clock=clock.clock, sleep=clock.sleep, rand=lambda: 0.5)
    window = ConsistencyWindow(consistency_timeout, clock=clock.clock, sleep=clock.sleep)
    session = ScriptedSession(answers)
    return GcpClient(session, ENDPOINTS, policy, consistency=window, check_mode=check_mode), session, clock


def sa_missing():
    return google_error(400, "INVALID_ARGUMENT", "Service account %s does not exist." % SA)


def disabled(service="aiplatform.googleapis.com"):
    return FakeResponse(403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "Vertex AI API has not been used in project 123456789012 before or it is disabled.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                     "domain": "googleapis.com",
                     "metadata": {"service": service, "consumer": "projects/123456789012"}}]}})


def ok(body=None):
    return FakeResponse(200, body if body is not None else {"ok": True})


# ---- the window ---------------------------------------------------------------------------

def test_window_waits_1_2_4_then_succeeds():
    clock = FakeClock()
    window = ConsistencyWindow(120, clock=clock.clock, sleep=clock.sleep)
    answers = [ValueError("a"), ValueError("b"), ValueError("c"), "done"]

    def func():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert window.call(func, lambda exc: "not yet") == "done"
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_window_gives_up_within_its_bound_and_says_so():
    client, _unused, clock = make_client([sa_missing()] * 50, consistency_timeout=30)
    with pytest.raises(GcpError) as info:
        client.request("POST", "cloudresourcemanager", "v1/projects/p:setIamPolicy", resource="projects/p",
                       action="set IAM policy of")
    assert sum(clock.sleeps) <= 30
    assert "does not exist" in str(info.value)
    assert "consistency_timeout=30s" in str(info.value)
    assert all(entry.get("reason") for entry in client.retried)


def test_window_zero_does_not_wait():
    client, session, clock = make_client([sa_missing()], consistency_timeout=0)
    with pytest.raises(GcpError):
        client.request("POST", "cloudresourcemanager", "v1/projects/p:setIamPolicy")
    assert clock.sleeps == [] and len(session.calls) == 1


# ---- what is waited out -------------------------------------------------------------------

def test_set_iam_policy_naming_a_new_account_is_retried():
    client, session, _clock = make_client([sa_missing(), sa_missing(), ok({"etag": "e2"})])
    assert client.request("POST", "cloudresourcemanager", "v1/projects/p:setIamPolicy") == {"etag": "e2"}
    assert len(session.calls) == 3
    assert client.retried[0]["reason"].startswith("a new service account")


def test_a_404_is_waited_out_only_when_asked():
    client, _session, _clock = make_client([google_error(404, "NOT_FOUND", "gone")])
    with pytest.raises(GcpError):
        client.request("GET", "iam", "v1/projects/p/serviceAccounts/" + SA)
    client, session, _clock = make_client([google_error(404, "NOT_FOUND", "x")] * 2 + [ok({"email": SA})])
    assert client.wait_visible("iam", "v1/projects/p/serviceAccounts/" + SA) == {"email": SA}
    assert len(session.calls) == 3


def test_service_disabled_is_waited_out_when_service_usage_says_enabled():
    client, session, _clock = make_client([disabled(), ok({"state": "ENABLED"}), disabled(), ok({"done": 1})])
    assert client.request("GET", "iam", "v1/x") == {"done": 1}
    assert session.calls[1]["url"] == "http://emu/v1/projects/123456789012/services/aiplatform.googleapis.com"
    # Service Usage is asked once per service, not on every retry.
    assert len(session.calls) == 4


def test_service_disabled_fails_at_once_when_the_api_really_is_disabled():
    client, session, clock = make_client([disabled(), ok({"state": "DISABLED"})])
    with pytest.raises(GcpError) as info:
        client.request("GET", "iam", "v1/x")
    assert info.value.http_status == 403 and clock.sleeps == [] and len(session.calls) == 2


def test_check_mode_reads_of_an_api_not_enabled_yet_find_nothing():
    # In check mode the task enabling IAM was only predicted: a read of it finds nothing there.
    client, session, clock = make_client([disabled("iam.googleapis.com"), ok({"state": "DISABLED"}),
                                          disabled("iam.googleapis.com")], check_mode=True)
    assert client.get_or_none("iam", "v1/projects/p/serviceAccounts/" + SA) is None
    with pytest.raises(GcpError) as info:
        client.request("GET", "iam", "v1/projects/p/locations/global/workloadIdentityPools/x/providers")
    assert client.absent(info.value)
    # Service Usage is asked once; nothing is waited for.
    assert len(session.calls) == 3 and clock.sleeps == []


def test_outside_check_mode_an_api_not_enabled_stays_an_error():
    client, _session, _clock = make_client([disabled("iam.googleapis.com"), ok({"state": "DISABLED"})])
    with pytest.raises(GcpError) as info:
        client.get_or_none("iam", "v1/projects/p/serviceAccounts/" + SA)
    assert info.value.http_status == 403 and not client.absent(info.value)


def test_check_mode_does_not_hide_an_api_service_usage_calls_enabled_or_cannot_tell():
    # Enabled (but still answering SERVICE_DISABLED after the window): an error, not "absent".
    client, _session, _clock = make_client([disabled(), ok({"state": "ENABLED"})] + [disabled()] * 30,
                                           consistency_timeout=3, check_mode=True)
    with pytest.raises(GcpError):
        client.get_or_none("iam", "v1/x")
    # Service Usage itself failing: no guess either; nor a 403 that is not SERVICE_DISABLED.
    client, _session, _clock = make_client([disabled(), google_error(403, "PERMISSION_DENIED", "no")], check_mode=True)
    with pytest.raises(GcpError):
        client.get_or_none("iam", "v1/x")
    assert not client.absent(GcpError("denied", http_status=403, google_status="PERMISSION_DENIED"))


def test_wait_visible_with_the_window_off_returns_the_create_s_answer():
    client, session, _clock = make_client([], consistency_timeout=0)
    assert client.wait_visible("iam", "v1/projects/p/serviceAccounts/" + SA, created={"email": SA}) == {"email": SA}
    assert session.calls == []
    client, session, _clock = make_client([google_error(404, "NOT_FOUND", "x"), ok({"email": SA})])
    assert client.wait_visible("iam", "v1/projects/p/serviceAccounts/" + SA, created={"email": SA}) == {"email": SA}
    assert len(session.calls) == 2


def test_service_usage_busy_is_retried():
    busy = google_error(400, "FAILED_PRECONDITION", "Another activation or deactivation is in progress.")
    client, _unused, _clock = make_client([busy, ok({"name": "operations/1", "done": True})])
    assert client.request("POST", "serviceusage", "v1/projects/p/services:batchEnable")["done"]
    assert service_usage_busy(GcpError("Error code 160009, message: x")) == "Service Usage error 160009"


def test_predicates_ignore_lookalikes():
    assert service_disabled(GcpError("SERVICE_DISABLED", http_status=400)) is None
    assert service_usage_busy(GcpError("code 1600090")) is None


# ---- replayed writes ----------------------------------------------------------------------

def test_a_retried_delete_answering_404_after_a_lost_answer_landed():
    client, _unused, _clock = make_client([google_error(503, "UNAVAILABLE", "x"), google_error(404, "NOT_FOUND", "gone")])
    answer = client.request("DELETE", "iam", "v1/sa", landed_if=lambda exc: exc.is_not_found)
    assert isinstance(answer, Landed)
    assert client.writes == [("DELETE", "v1/sa")]


def test_a_reset_counts_as_a_lost_answer():
    reset = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104))")
    client, _session, _clock = make_client([reset, google_error(404, "NOT_FOUND", "gone")])
    assert isinstance(client.request("DELETE", "iam", "v1/sa", landed_if=lambda exc: exc.is_not_found), Landed)


def test_a_first_404_is_not_a_replay():
    client, _session, _clock = make_client([google_error(404, "NOT_FOUND", "gone")])
    with pytest.raises(GcpError) as info:
        client.request("DELETE", "iam", "v1/sa", landed_if=lambda exc: exc.is_not_found)
    assert not info.value.write_uncertain


def test_rmw_whose_write_landed_before_a_503_reports_changed():
    member = "serviceAccount:" + SA
    state = {"policy": {"etag": "e1", "bindings": []}}

    def get_policy(method, url, params, body):
        return ok(state["policy"])

    def set_then_fail(method, url, params, body):
        # The write is applied, then the answer is lost.
        state["policy"] = dict(body["policy"], etag="e2")
        return google_error(503, "UNAVAILABLE", "backend error")

    def stale(method, url, params, body):
        return google_error(409, "ABORTED", "etag mismatch")

    client, session, _clock = make_client([get_policy, set_then_fail, stale, get_policy])

    def read():
        return client.request("POST", "iam", "v1/r:getIamPolicy", write=False)

    def write(policy):
        return client.request("POST", "iam", "v1/r:setIamPolicy", body={"policy": policy}, retry_aborted=False)

    def mutate(policy):
        if any(member in b["members"] for b in policy.get("bindings", [])):
            return None
        policy["bindings"] = [{"role": "roles/aiplatform.user", "members": [member]}]
        return policy

    changed, before, after = client.modify_iam_policy(read, write, mutate)
    assert changed
    assert before["bindings"] == [] and after["bindings"][0]["members"] == [member]
    assert len(session.calls) == 4
