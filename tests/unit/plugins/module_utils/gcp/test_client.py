"""GcpClient: retries with jittered backoff (fake clock), error mapping, operations, RMW loop."""

from __future__ import annotations

import pytest
import requests
from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import resolve_endpoints
from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import GcpClient
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError, OperationTimeout, error_from_response
from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RetryPolicy
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError
from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import (
    FakeClock,
    FakeResponse,
    ScriptedSession,
    google_error,
)

ENDPOINTS = {"iam": "http://emu", "cloudresourcemanager": "http://emu", "serviceusage": "http://emu"}


def make_client(answers, retries=8, max_total=120.0, rand=0.5):
    clock = FakeClock()
    policy = RetryPolicy(retries=retries, max_total=max_total, clock=clock.clock, sleep=clock.sleep, rand=lambda: rand)
    session = ScriptedSession(answers)
    return GcpClient(session, ENDPOINTS, policy), session, clock


# ---- backoff arithmetic -------------------------------------------------------------------

def test_delay_is_jittered_exponential_and_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rand=lambda: 0.0)
    assert [policy.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rand=lambda: 0.999999)
    assert policy.delay(0) == pytest.approx(0.5, abs=1e-5)
    assert policy.delay(10) == pytest.approx(4.0, abs=1e-5)


def test_retry_after_header_is_honoured_but_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rand=lambda: 0.0)
    assert policy.delay(0, retry_after=3) == 3
    assert policy.delay(0, retry_after=60) == 4.0


# ---- request retries ----------------------------------------------------------------------

def test_two_503_then_success():
    client, session, clock = make_client([google_error(503, "UNAVAILABLE", "busy"), google_error(503, "UNAVAILABLE", "busy"),
                                          FakeResponse(200, {"name": "x"})])
    assert client.request("GET", "iam", "v1/x") == {"name": "x"}
    assert len(session.calls) == 3
    assert clock.sleeps == [0.375, 0.75]          # equal jitter with rand=0.5: 3/4 of 0.5, 1.0
    assert [r["http_status"] for r in client.retried] == [503, 503]
    assert client.writes == []


def test_429_with_retry_after_then_success():
    throttled = FakeResponse(429, {"error": {"status": "RESOURCE_EXHAUSTED", "message": "quota"}},
                             headers={"Retry-After": "2"})
    client, _unused1, clock = make_client([throttled, FakeResponse(200, {})])
    client.request("POST", "iam", "v1/x:setIamPolicy", body={})
    assert clock.sleeps == [2.0]
    assert client.writes == [("POST", "v1/x:setIamPolicy")]


def test_non_retryable_error_raises_at_once_with_one_line():
    client, session, clock = make_client([google_error(400, "INVALID_ARGUMENT", "Bad\nthing  here")])
    with pytest.raises(GcpError) as info:
        client.request("POST", "iam", "v1/p/pools", resource="projects/p/pools/x", action="create pool")
    assert len(session.calls) == 1 and clock.sleeps == []
    text = str(info.value)
    assert "\n" not in text
    assert text == "create pool projects/p/pools/x failed: HTTP 400 INVALID_ARGUMENT: Bad thing here"
    assert client.writes == []


def test_retries_stop_after_attempt_budget():
    client, session, _unused1 = make_client([google_error(503, "UNAVAILABLE", "down")] * 10, retries=3)
    with pytest.raises(GcpError) as info:
        client.request("GET", "iam", "v1/x")
    assert len(session.calls) == 4
    assert info.value.http_status == 503


def test_retries_stop_when_total_time_would_be_exceeded():
    client, session, clock = make_client([google_error(500, "INTERNAL", "boom")] * 20, retries=50, max_total=5.0)
    with pytest.raises(GcpError):
        client.request("GET", "iam", "v1/x")
    assert sum(clock.sleeps) <= 5.0
    assert 2 < len(session.calls) < 10


def test_aborted_is_retried_unless_disabled():
    client, session, _unused1 = make_client([google_error(409, "ABORTED", "concurrent"), FakeResponse(200, {"ok": 1})])
    assert client.request("PATCH", "iam", "v1/x") == {"ok": 1}
    client, session, _unused1 = make_client([google_error(409, "ABORTED", "concurrent")])
    with pytest.raises(GcpError) as info:
        client.request("POST", "iam", "v1/x:setIamPolicy", retry_aborted=False)
    assert info.value.is_conflict and len(session.calls) == 1


def test_already_exists_conflict_is_not_retried():
    client, session, _unused1 = make_client([google_error(409, "ALREADY_EXISTS", "exists")])
    with pytest.raises(GcpError) as info:
        client.request("POST", "iam", "v1/x")
    assert not info.value.is_conflict and len(session.calls) == 1


def test_connection_refused_is_retried_and_mapped():
    client, session, _unused1 = make_client([requests.exceptions.ConnectionError("refused")] * 3, retries=2)
    with pytest.raises(GcpError) as info:
        client.request("POST", "iam", "v1/x", resource="r", action="create")
    assert len(session.calls) == 3
    assert "UNAVAILABLE" in str(info.value) and "ConnectionError" in str(info.value)


def test_read_timeout_on_write_is_retried_and_marks_the_outcome_unknown():
    client, session, _unused1 = make_client([requests.exceptions.ReadTimeout("slow")] * 3, retries=2)
    with pytest.raises(GcpError) as info:
        client.request("POST", "iam", "v1/x")
    assert len(session.calls) == 3
    assert info.value.write_uncertain


def test_get_or_none_maps_404():
    client, _unused1, _unused2 = make_client([google_error(404, "NOT_FOUND", "nope")])
    assert client.get_or_none("iam", "v1/x") is None


# ---- error mapping ------------------------------------------------------------------------

def test_error_mapping_variants():
    err = error_from_response(FakeResponse(502, text="<html>\n<b>Bad gateway</b></html>"), resource="r", action="read")
    assert err.google_status == "UNAVAILABLE" and err.http_status == 502 and "\n" not in str(err)
    err = error_from_response(FakeResponse(400, {"error": "invalid_target", "error_description": "pool gone"}))
    assert str(err) == "Google API call failed: HTTP 400 invalid_target: pool gone"


# ---- operations ---------------------------------------------------------------------------

def test_operation_polled_until_done():
    op = {"name": "projects/1/locations/global/workloadIdentityPools/p/operations/o1", "done": False}
    client, session, clock = make_client([FakeResponse(200, dict(op)), FakeResponse(200, dict(op, done=True))])
    client.wait_operation("iam", op, 10, resource="pool", action="create pool")
    assert [c["url"] for c in session.calls] == ["http://emu/v1/" + op["name"]] * 2
    assert client.writes == []
    assert sum(clock.sleeps) < 1


def test_operation_timeout_names_the_operation():
    op = {"name": "projects/1/locations/global/workloadIdentityPools/p/operations/slow", "done": False}
    client, _session, clock = make_client([FakeResponse(200, dict(op))] * 100)
    with pytest.raises(OperationTimeout) as info:
        client.wait_operation("iam", op, 3, resource="projects/1/.../p", action="create workload identity pool")
    assert op["name"] in str(info.value) and "wait_timeout=3s" in str(info.value)
    assert clock.now - 1000.0 <= 3.0 + 1e-9
    assert info.value.operation == op["name"]


def test_operation_error_becomes_gcp_error():
    op = {"name": "operations/x", "done": True, "error": {"code": 9, "message": "precondition"}}
    client, _unused1, _unused2 = make_client([])
    with pytest.raises(GcpError) as info:
        client.wait_operation("serviceusage", op, 5, resource="projects/p", action="enable services")
    assert info.value.google_status == "FAILED_PRECONDITION" and "operations/x" in str(info.value)


# ---- IAM read-modify-write ----------------------------------------------------------------

def test_rmw_redoes_read_on_conflict():
    client, _unused1, clock = make_client([])
    stored = {"etag": "e1", "bindings": []}
    reads = []
    conflicts = [2]

    def read():
        reads.append(stored["etag"])
        return {"etag": stored["etag"], "bindings": [dict(b) for b in stored["bindings"]]}

    def write(policy):
        if conflicts[0]:
            conflicts[0] -= 1
            # Another writer got in first: its member lands and the etag moves on.
            stored["bindings"].append({"role": "roles/x", "members": ["user:other%d@x.com" % conflicts[0]]})
            stored["etag"] = "e%d" % (len(reads) + 1)
            raise GcpError("concurrent", http_status=409, google_status="ABORTED")
        assert policy["etag"] == stored["etag"]
        stored["bindings"] = policy["bindings"]
        return policy

    def mutate(policy):
        policy["bindings"].append({"role": "roles/x", "members": ["user:me@x.com"]})
        return policy

    changed, _unused1, after = client.modify_iam_policy(read, write, mutate)
    assert changed and len(reads) == 3 and len(clock.sleeps) == 2
    members = [m for b in after["bindings"] for m in b["members"]]
    assert sorted(members) == ["user:me@x.com", "user:other0@x.com", "user:other1@x.com"]


def test_rmw_gives_up_after_budget_and_reports_conflict():
    client, _unused1, _unused2 = make_client([], retries=2)
    calls = []

    def write(policy):
        calls.append(1)
        raise GcpError("concurrent", http_status=409, google_status="ABORTED")

    with pytest.raises(GcpError) as info:
        client.modify_iam_policy(lambda: {"etag": "a"}, write, lambda p: dict(p, bindings=[1]))
    assert info.value.is_conflict and len(calls) == 3


def test_rmw_check_mode_and_noop_do_not_write():
    client, _unused1, _unused2 = make_client([])

    def write(policy):
        raise AssertionError("must not write")

    assert client.modify_iam_policy(lambda: {"etag": "a"}, write, lambda p: None)[0] is False
    changed, before, after = client.modify_iam_policy(lambda: {"etag": "a"}, write, lambda p: dict(p, x=1), check_mode=True)
    assert changed and before == {"etag": "a"} and after == {"etag": "a", "x": 1}


# ---- endpoints ----------------------------------------------------------------------------

def test_endpoints_option_then_env_then_default():
    env = {"GCP_ENDPOINT_IAM": "http://env-iam/", "GCP_ENDPOINT_STS": "http://env-sts"}
    out = resolve_endpoints({"iam": "http://opt-iam", "sts": None}, environ=env)
    assert out["iam"] == "http://opt-iam" and out["sts"] == "http://env-sts"
    assert out["serviceusage"] == "https://serviceusage.googleapis.com"
    assert resolve_endpoints(None, environ=env)["iam"] == "http://env-iam"
    with pytest.raises(ValidationError) as info:
        resolve_endpoints({"serviceusage": "emu:8080"}, environ={})
    assert info.value.field == "endpoints.serviceusage"


# ---- auth plumbing (no network: credentials are only built, never refreshed) ------------

def test_accesstoken_session_sends_bearer_without_google_auth():
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import BearerSession, build_session

    session = build_session({"auth_kind": "accesstoken", "access_token": "tok"}, {})
    assert isinstance(session, BearerSession)
    assert session.headers["Authorization"] == "Bearer tok"


def test_external_account_file_is_pointed_at_overridden_endpoints(tmp_path, monkeypatch):
    import json

    from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import DEFAULT_ENDPOINTS, load_credentials
    from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import EXTERNAL_ACCOUNT_INFO

    info = EXTERNAL_ACCOUNT_INFO
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # nothing may ask a metadata service for it
    path = tmp_path / "ext.json"
    path.write_text(json.dumps(info))
    endpoints = dict(DEFAULT_ENDPOINTS, sts="http://127.0.0.1:9", iamcredentials="http://127.0.0.1:9")
    creds = load_credentials({"auth_kind": "external_account", "external_account_file": str(path)}, endpoints)
    assert creds._token_url == "http://127.0.0.1:9/v1/token"
    assert creds.service_account_email == "sa@p.iam.gserviceaccount.com"
    assert creds._service_account_impersonation_url.startswith("http://127.0.0.1:9/v1/projects/-/serviceAccounts/")


def test_bad_key_file_is_one_line_auth_error(tmp_path):
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import load_credentials
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpAuthError

    path = tmp_path / "key.json"
    path.write_text("{not json")
    with pytest.raises(GcpAuthError) as info:
        load_credentials({"auth_kind": "serviceaccount", "service_account_file": str(path)}, {})
    assert "auth_kind=serviceaccount" in str(info.value) and "\n" not in str(info.value)
