"""A cloud slow to agree, tokens that expire, rotating instance credentials, lost answers.

The emulator's clock is replaced by a settable one, so minutes pass without sleeping. It starts
at the real time: google-auth signs the AWS subject token with the real clock, and the emulator
refuses signatures more than 15 minutes off its own.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from typing import Any

import google.auth.transport.requests
import pytest
import requests
from conftest import (
    ADMIN_TOKEN,
    AUDIENCE,
    CLOUD_PLATFORM,
    MODEL_URL,
    POOL_PATH,
    PROJECT_ID,
    PROJECT_NUMBER,
    SA_EMAIL,
    SA_ID,
    Sandbox,
    aws_credentials,
    make_config,
    start_metadata,
)
from wif_emulator import aws
from wif_emulator.config import ConfigError, load_config
from wif_emulator.imds import MetadataServer
from wif_emulator.server import EmulatorServer
from wif_emulator.tokens import INVALID_TARGET

pytestmark = pytest.mark.usefixtures("no_aws_env")

PROVIDER_PATH = f"{POOL_PATH}/providers/aws-provider"
GAT_URL = f"/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"
SA_RESOURCE = f"/v1/projects/{PROJECT_ID}/serviceAccounts/{SA_EMAIL}"
MINUTE = 60


class Clock:
    """Epoch seconds for the emulator, aware datetimes for the metadata server; one time."""

    def __init__(self) -> None:
        self.t = float(math.floor(time.time()))

    def __call__(self) -> float:
        return self.t

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.t, dt.UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[EmulatorServer]:
    srv = EmulatorServer(make_config()).start()
    srv.app.clock = clock
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only, never a proxy
    yield session
    session.close()


@pytest.fixture
def md(clock: Clock) -> Iterator[MetadataServer]:
    server = start_metadata(clock=clock.utc)
    try:
        yield server
    finally:
        server.stop()


class Calls:
    """The calls of the keyless flow, made by hand so every answer can be looked at."""

    def __init__(self, base: str, http: requests.Session, md: MetadataServer | None = None) -> None:
        self.base, self.http, self.md = base, http, md

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=10)

    def google(self, method: str, path: str, body: dict[str, Any] | None = None,
               token: str = ADMIN_TOKEN) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})

    def subject_token(self) -> str:
        assert self.md is not None
        creds = aws_credentials(self.base, self.md.base_url)
        return creds.retrieve_subject_token(google.auth.transport.requests.Request())

    def exchange(self, subject: str | None = None) -> requests.Response:
        return self.http.post(self.base + "/v1/token", timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "subject_token": subject or self.subject_token(), "audience": AUDIENCE, "scope": CLOUD_PLATFORM})

    def federated(self) -> str:
        resp = self.exchange()
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def impersonate(self, federated: str, **body: Any) -> requests.Response:
        return self.google("POST", GAT_URL, {"scope": [CLOUD_PLATFORM], **body}, token=federated)

    def vertex(self, token: str) -> requests.Response:
        return self.google("POST", MODEL_URL.format(project=PROJECT_ID) + ":generateContent",
                           {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, token=token)

    def set_consistency(self, **values: float) -> dict[str, Any]:
        resp = self.admin("POST", "/_emulator/consistency", values)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def bindings(self, path: str) -> list[dict[str, Any]]:
        return self.google("POST", path + ":getIamPolicy").json().get("bindings", [])

    def set_bindings(self, path: str, bindings: list[dict[str, Any]]) -> requests.Response:
        return self.google("POST", path + ":setIamPolicy", {"policy": {"bindings": bindings}})


@pytest.fixture
def calls(emu: EmulatorServer, http: requests.Session, md: MetadataServer) -> Calls:
    return Calls(emu.base_url, http, md)


def _error(resp: requests.Response) -> dict[str, Any]:
    return resp.json()["error"]


# --------------------------------------------------------------------------- config and runtime


@pytest.mark.parametrize(("section", "value", "words"), [
    ("consistency", {"iam_propagation_seconds": -1}, "consistency.iam_propagation_seconds: must be between 0 and 3600"),
    ("consistency", {"provider_propagation_seconds": 3600.5}, "consistency.provider_propagation_seconds: must be between"),
    ("consistency", {"service_enablement_seconds": "5"}, "consistency.service_enablement_seconds: must be a number"),
    ("consistency", {"service_account_visibility_seconds": True}, "service_account_visibility_seconds: must be a number"),
    ("consistency", {"iam_seconds": 1}, "consistency: unknown key(s) ['iam_seconds']"),
    ("consistency", [1], "consistency: must be a mapping"),
    ("tokens", {"federated_token_seconds": 9}, "tokens.federated_token_seconds: must be between 10 and 43200"),
    ("tokens", {"service_account_token_seconds": 43201}, "tokens.service_account_token_seconds: must be between"),
    ("tokens", {"federated_token_seconds": 60.5}, "tokens.federated_token_seconds: must be an integer"),
])
def test_config_sections_are_validated(section, value, words):
    with pytest.raises(ConfigError) as info:
        load_config(make_config(**{section: value}))
    assert words in str(info.value)


def test_config_sections_accept_floats_and_defaults():
    cfg = load_config(make_config(consistency={"iam_propagation_seconds": 1.5}, tokens=None))
    assert cfg.consistency.iam_propagation_seconds == 1.5
    assert cfg.consistency.service_account_visibility_seconds == 0
    assert (cfg.tokens.federated_token_seconds, cfg.tokens.service_account_token_seconds) == (3600, 3600)


def test_runtime_settings_get_post_and_refuse(emu, http):
    c = Calls(emu.base_url, http)
    assert c.admin("GET", "/_emulator/consistency").json() == {
        "service_account_visibility_seconds": 0, "iam_propagation_seconds": 0,
        "provider_propagation_seconds": 0, "service_enablement_seconds": 0}
    assert c.set_consistency(iam_propagation_seconds=2)["iam_propagation_seconds"] == 2
    assert c.set_consistency(provider_propagation_seconds=0.5) == {
        "service_account_visibility_seconds": 0, "iam_propagation_seconds": 2,
        "provider_propagation_seconds": 0.5, "service_enablement_seconds": 0}
    bad = c.admin("POST", "/_emulator/consistency", {"iam_propagation_seconds": 2, "service_enablement_seconds": 7200})
    assert bad.status_code == 400
    assert _error(bad)["message"] == "consistency.service_enablement_seconds: must be between 0 and 3600"
    assert c.admin("GET", "/_emulator/consistency").json()["iam_propagation_seconds"] == 2  # unchanged

    assert c.admin("GET", "/_emulator/tokens").json() == {"federated_token_seconds": 3600,
                                                          "service_account_token_seconds": 3600}
    assert c.admin("POST", "/_emulator/tokens", {"federated_token_seconds": 600}).json() == {
        "federated_token_seconds": 600, "service_account_token_seconds": 3600}
    bad = c.admin("POST", "/_emulator/tokens", {"lifetime": 5})
    assert (bad.status_code, _error(bad)["status"]) == (400, "INVALID_ARGUMENT")


# --------------------------------------------------------------------------- service accounts


def test_new_service_account_is_invisible_for_the_window(emu, clock, calls):
    sandbox = Sandbox(emu.base_url)
    sandbox.enable_services()
    sandbox.create_pool()
    sandbox.create_provider()
    calls.set_consistency(service_account_visibility_seconds=MINUTE)
    created = calls.google("POST", f"/v1/projects/{PROJECT_ID}/serviceAccounts", {"accountId": SA_ID})
    assert created.status_code == 200
    for method, path in (("GET", SA_RESOURCE), ("POST", SA_RESOURCE + ":getIamPolicy"),
                         ("POST", SA_RESOURCE + ":setIamPolicy")):
        resp = calls.google(method, path, {"policy": {}} if "set" in path else None)
        assert (resp.status_code, _error(resp)["status"]) == (404, "NOT_FOUND"), path
    assert "accounts" not in calls.google("GET", f"/v1/projects/{PROJECT_ID}/serviceAccounts").json()
    again = calls.google("POST", f"/v1/projects/{PROJECT_ID}/serviceAccounts", {"accountId": SA_ID})
    assert (again.status_code, _error(again)["status"]) == (409, "ALREADY_EXISTS")
    member = {"role": "roles/aiplatform.user", "members": [f"serviceAccount:{SA_EMAIL}"]}
    refused = calls.set_bindings(f"/v1/projects/{PROJECT_ID}", [member])
    assert _error(refused) == {"code": 400, "status": "INVALID_ARGUMENT",
                               "message": f"Service account {SA_EMAIL} does not exist."}
    token = calls.impersonate(calls.federated())
    assert _error(token) == {"code": 404, "status": "NOT_FOUND",
                             "message": f"Not found; Gaia id not found for email {SA_EMAIL}"}

    clock.advance(MINUTE)
    assert calls.google("GET", SA_RESOURCE).json()["email"] == SA_EMAIL
    assert calls.google("GET", f"/v1/projects/{PROJECT_ID}/serviceAccounts").json()["accounts"][0]["email"] == SA_EMAIL
    assert calls.set_bindings(f"/v1/projects/{PROJECT_ID}", [member]).status_code == 200


def test_binding_an_account_that_never_existed_is_refused(emu, http):
    c = Calls(emu.base_url, http)
    nobody = f"nobody-here@{PROJECT_ID}.iam.gserviceaccount.com"
    refused = c.set_bindings(f"/v1/projects/{PROJECT_ID}", [{"role": "roles/viewer", "members": [f"serviceAccount:{nobody}"]}])
    assert _error(refused)["message"] == f"Service account {nobody} does not exist."
    # Accounts of projects the emulator does not hold are not its to judge.
    elsewhere = {"role": "roles/viewer", "members": ["serviceAccount:someone@other-project.iam.gserviceaccount.com"]}
    assert c.set_bindings(f"/v1/projects/{PROJECT_ID}", [elsewhere]).status_code == 200


# --------------------------------------------------------------------------- IAM propagation


def test_iam_grants_and_revocations_both_lag(emu, clock, calls):
    Sandbox(emu.base_url).full_setup()
    calls.set_consistency(iam_propagation_seconds=2 * MINUTE)  # also for the changes just made
    federated = calls.federated()
    denied = calls.impersonate(federated)
    assert _error(denied)["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    clock.advance(2 * MINUTE - 1)
    assert calls.impersonate(federated).status_code == 403  # one second short
    clock.advance(1)
    granted = calls.impersonate(federated)
    assert granted.status_code == 200, granted.text
    sa_token = granted.json()["accessToken"]
    assert calls.vertex(sa_token).status_code == 200

    # Revoke the workloadIdentityUser binding: the read shows it gone, enforcement does not yet.
    assert calls.set_bindings(SA_RESOURCE, []).status_code == 200
    assert calls.bindings(SA_RESOURCE) == []
    assert calls.impersonate(federated).status_code == 200
    clock.advance(2 * MINUTE)
    assert calls.impersonate(federated).status_code == 403

    # The same both ways for Vertex through the project policy.
    project = f"/v1/projects/{PROJECT_ID}"
    with_vertex = calls.bindings(project)
    calls.set_bindings(project, [b for b in with_vertex if b["role"] != "roles/aiplatform.user"])
    assert calls.vertex(sa_token).status_code == 200
    clock.advance(2 * MINUTE)
    assert "aiplatform.endpoints.predict" in _error(calls.vertex(sa_token))["message"]
    calls.set_bindings(project, with_vertex)
    assert calls.vertex(sa_token).status_code == 403
    clock.advance(2 * MINUTE)
    assert calls.vertex(sa_token).status_code == 200


# --------------------------------------------------------------------------- providers at STS


def _patch_provider(calls: Calls, mask: str, body: dict[str, Any]) -> None:
    resp = calls.google("PATCH", f"/v1/{PROVIDER_PATH}?updateMask={mask}", body)
    assert resp.status_code == 200, resp.text


def test_providers_reach_sts_late_and_old_versions_linger(emu, clock, calls):
    sandbox = Sandbox(emu.base_url)
    calls.set_consistency(provider_propagation_seconds=30)
    sandbox.enable_services()
    sandbox.create_pool()
    sandbox.create_provider()
    subject = calls.subject_token()
    early = calls.exchange(subject)
    assert (early.status_code, early.json()) == (400, {"error": "invalid_target", "error_description": INVALID_TARGET})
    clock.advance(30)
    assert calls.exchange(subject).status_code == 200

    _patch_provider(calls, "attributeCondition", {"attributeCondition": "false"})
    assert calls.google("GET", f"/v1/{PROVIDER_PATH}").json()["attributeCondition"] == "false"  # reads: at once
    assert calls.exchange(subject).status_code == 200  # STS: the old version
    clock.advance(30)
    assert calls.exchange(subject).json()["error"] == "unauthorized_client"
    _patch_provider(calls, "attributeCondition", {"attributeCondition": ""})
    assert calls.exchange(subject).json()["error"] == "unauthorized_client"
    clock.advance(30)
    federated = calls.exchange(subject).json()["access_token"]

    _patch_provider(calls, "disabled", {"disabled": True})
    assert calls.exchange(subject).status_code == 200  # a disabled provider works for the window
    clock.advance(30)
    assert calls.exchange(subject).json()["error"] == "invalid_target"
    # Disabling the pool stops its tokens, also only after the window.
    resp = calls.google("PATCH", f"/v1/{POOL_PATH}?updateMask=disabled", {"disabled": True})
    assert resp.status_code == 200
    assert calls.impersonate(federated).status_code == 403  # authenticated (no account): the pool still counts
    clock.advance(30)
    assert calls.impersonate(federated).status_code == 401


# --------------------------------------------------------------------------- service enablement


def test_enabled_service_answers_service_disabled_for_the_window(emu, clock, calls):
    calls.set_consistency(service_enablement_seconds=MINUTE)
    svc = f"/v1/projects/{PROJECT_ID}/services/iam.googleapis.com"
    assert calls.google("POST", svc + ":disable", {}).status_code == 200
    assert calls.google("POST", svc + ":enable", {}).json()["done"] is True
    assert calls.google("GET", svc).json()["state"] == "ENABLED"
    pools = f"/v1/projects/{PROJECT_ID}/locations/global/workloadIdentityPools"
    err = _error(calls.google("GET", pools))
    url = f"https://console.developers.google.com/apis/api/iam.googleapis.com/overview?project={PROJECT_NUMBER}"
    assert err["code"] == 403
    assert err["status"] == "PERMISSION_DENIED"
    assert err["message"] == (
        f"Identity and Access Management (IAM) API has not been used in project {PROJECT_NUMBER} before or it "
        f"is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few "
        "minutes for the action to propagate to our systems and retry.")
    info = err["details"][0]
    assert (info["reason"], info["domain"]) == ("SERVICE_DISABLED", "googleapis.com")
    assert info["metadata"]["service"] == "iam.googleapis.com"
    assert info["metadata"]["consumer"] == f"projects/{PROJECT_NUMBER}"
    clock.advance(MINUTE)
    assert calls.google("GET", pools).status_code == 200


# --------------------------------------------------------------------------- token lifetimes


def test_tokens_expire_and_are_refused_as_expired(emu, clock, calls):
    Sandbox(emu.base_url).full_setup()
    assert calls.admin("POST", "/_emulator/tokens", {"federated_token_seconds": 10,
                                                     "service_account_token_seconds": 20}).status_code == 200
    answer = calls.exchange().json()
    assert answer["expires_in"] == 10
    federated = answer["access_token"]
    minted = calls.impersonate(federated, lifetime="3600s").json()
    # Cut to the cap; whole seconds, never later than the real expiry.
    assert minted["expireTime"] == (clock.utc() + dt.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert calls.vertex(minted["accessToken"]).status_code == 200

    clock.advance(10)
    expired = _error(calls.impersonate(federated))
    assert (expired["code"], expired["status"]) == (401, "UNAUTHENTICATED")
    assert expired["message"].startswith("Request had invalid authentication credentials.")
    assert expired["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_EXPIRED", "domain": "googleapis.com",
        "metadata": {"method": "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken",
                     "service": "iamcredentials.googleapis.com"}}
    assert calls.vertex(minted["accessToken"]).status_code == 200  # 10 s of its 20 left
    clock.advance(10)
    vertex = _error(calls.vertex(minted["accessToken"]))
    assert vertex["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    assert vertex["details"][0]["metadata"]["service"] == "aiplatform.googleapis.com"
    calls.federated()  # a new issue forgets the expired records; the tokens still say they expired
    assert _error(calls.vertex(minted["accessToken"]))["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    assert _error(calls.vertex("ya29.c.emu-not-ours"))["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"

    counters = calls.admin("GET", "/_emulator/stats").json()["counters"]
    # Both exchanges were signed with the same instance credentials.
    assert counters == {"sts_token_exchanges": 2, "generate_access_token": 1, "aws_credentials_seen": 1}


def test_generate_access_token_lifetime_rules(emu, clock, calls):
    Sandbox(emu.base_url).full_setup()
    federated = calls.federated()
    for lifetime in ("3601s", "0s", "1h", "3600"):
        resp = calls.impersonate(federated, lifetime=lifetime)
        assert (resp.status_code, _error(resp)["status"]) == (400, "INVALID_ARGUMENT"), lifetime
    assert "3600s" in _error(calls.impersonate(federated, lifetime="3601s"))["message"]
    default = calls.impersonate(federated).json()["expireTime"]
    assert default == (clock.utc() + dt.timedelta(seconds=3600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A cap above 3600 s stands for the lifetime-extension organization policy.
    calls.admin("POST", "/_emulator/tokens", {"service_account_token_seconds": 7200})
    assert calls.impersonate(federated, lifetime="7200s").status_code == 200
    assert calls.impersonate(federated, lifetime="7201s").status_code == 400


# --------------------------------------------------------------------------- AWS credentials


def test_metadata_server_rotates_before_expiry_and_old_credentials_expire(emu, clock, calls, http):
    md = start_metadata(clock=clock.utc, ttl_seconds=60)
    try:
        path = f"{md.base_url}/latest/meta-data/iam/security-credentials/wif-bound-role"
        token = http.put(f"{md.base_url}/latest/api/token", timeout=5,
                         headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"}).text

        def creds() -> dict[str, str]:
            return http.get(path, headers={"X-aws-ec2-metadata-token": token}, timeout=5).json()

        first = creds()
        issued = dt.datetime.strptime(first["LastUpdated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert first["Expiration"] == (issued + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        calls.md = md
        old_subject = calls.subject_token()
        clock.advance(40)  # 20 s left: exactly a third of the TTL, not yet less
        assert creds() == first
        clock.advance(1)
        second = creds()
        assert second["AccessKeyId"] != first["AccessKeyId"]
        assert second["LastUpdated"] == clock.utc().strftime("%Y-%m-%dT%H:%M:%SZ")
        assert calls.exchange(old_subject).status_code == 400  # the provider is not set up: invalid_target

        Sandbox(emu.base_url).full_setup()
        assert calls.exchange(old_subject).status_code == 200  # 19 s left on the old credentials
        clock.advance(19)
        refused = calls.exchange(old_subject).json()
        assert refused == {"error": "invalid_grant", "error_description": (
            "Received invalid AWS response of type ExpiredToken with error message: "
            f"{aws.MSG_EXPIRED_TOKEN}")}
        assert calls.exchange().status_code == 200  # the rotated credentials work
        # The old credentials (one exchange passed) and the rotated ones: two distinct sets.
        assert calls.admin("GET", "/_emulator/stats").json()["counters"]["aws_credentials_seen"] == 2
    finally:
        md.stop()


# --------------------------------------------------------------------------- lost answers


def _fault(calls: Calls, rule: dict[str, Any]) -> dict[str, Any]:
    resp = calls.admin("POST", "/_emulator/faults", rule)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_commit_then_fail_applies_the_write_then_loses_the_answer(emu, calls):
    sandbox = Sandbox(emu.base_url)
    sandbox.enable_services()
    _fault(calls, {"route": "iam.projects.locations.workloadIdentityPools.create", "commit_then_fail": "reset"})
    pools = f"/v1/projects/{PROJECT_ID}/locations/global/workloadIdentityPools?workloadIdentityPoolId=aws-pool"
    with pytest.raises(requests.ConnectionError, match="reset by peer"):  # a TCP RST, no answer
        calls.google("POST", pools, {})
    assert calls.google("GET", f"/v1/{POOL_PATH}").json()["state"] == "ACTIVE"  # it was created
    assert _error(calls.google("POST", pools, {}))["status"] == "ALREADY_EXISTS"

    _fault(calls, {"method": "DELETE", "path": "/workloadIdentityPools/aws-pool$", "commit_then_fail": 503})
    lost = calls.google("DELETE", f"/v1/{POOL_PATH}")
    assert (lost.status_code, _error(lost)["status"]) == (503, "UNAVAILABLE")
    assert calls.google("GET", f"/v1/{POOL_PATH}").json()["state"] == "DELETED"
    assert _error(calls.google("DELETE", f"/v1/{POOL_PATH}"))["status"] == "FAILED_PRECONDITION"
    _fault(calls, {"route": "iam.projects.locations.workloadIdentityPools.undelete", "commit_then_fail": 503})
    assert calls.google("POST", f"/v1/{POOL_PATH}:undelete", {}).status_code == 503
    assert _error(calls.google("POST", f"/v1/{POOL_PATH}:undelete", {}))["status"] == "FAILED_PRECONDITION"

    routes = calls.admin("GET", "/_emulator/stats").json()["routes"]
    assert routes["POST iam.projects.locations.workloadIdentityPools.create"]["status"] == {"reset": 1, "409": 1}
    assert calls.admin("GET", "/_emulator/faults").json()["faults"][0]["fired"] == 1


def test_service_usage_errors_terraform_retries(emu, calls):
    svc = f"/v1/projects/{PROJECT_ID}/services"
    # Not used up by other calls: only an enable/disable takes it.
    _fault(calls, {"service_usage_error": "in_progress"})
    assert calls.google("GET", f"/v1/projects/{PROJECT_ID}").status_code == 200
    busy = calls.google("POST", f"{svc}/aiplatform.googleapis.com:enable", {})
    assert _error(busy) == {"code": 400, "status": "FAILED_PRECONDITION", "message": (
        "Another activation or deactivation is in progress for the following service(s): "
        f"aiplatform.googleapis.com and project {PROJECT_ID}.")}
    assert calls.google("GET", f"{svc}/aiplatform.googleapis.com").json()["state"] == "DISABLED"

    _fault(calls, {"route": "serviceusage.services.batchEnable", "service_usage_error": "160009"})
    ids = ["aiplatform.googleapis.com", "sts.googleapis.com"]
    op = calls.google("POST", f"{svc}:batchEnable", {"serviceIds": ids}).json()
    assert op["done"] is True
    assert "response" not in op
    assert op["error"]["code"] == 9
    for words in ("encountered internal error", "160009", "with failed services"):  # Terraform's match
        assert words in op["error"]["message"]
    assert calls.google("GET", f"/v1/{op['name']}").json()["error"] == op["error"]
    assert calls.google("GET", f"{svc}/sts.googleapis.com").json()["state"] == "DISABLED"
    assert calls.google("POST", f"{svc}:batchEnable", {"serviceIds": ids}).json()["response"]["services"][0]["state"] == "ENABLED"


@pytest.mark.parametrize(("rule", "words"), [
    ({"commit_then_fail": 500}, 'commit_then_fail must be 503 or "reset"'),
    ({"commit_then_fail": True}, 'commit_then_fail must be 503 or "reset"'),
    ({"service_usage_error": 160009}, 'service_usage_error must be "160009" or "in_progress"'),
    ({"commit_then_fail": 503, "status": 503}, "exactly one of"),
])
def test_new_fault_kinds_are_validated(emu, http, rule, words):
    resp = Calls(emu.base_url, http).admin("POST", "/_emulator/faults", rule)
    assert resp.status_code == 400
    assert words in _error(resp)["message"]


def test_commit_then_fail_waits_behind_an_injected_status(emu, calls):
    # A 503 injected before the handler means nothing was written: the commit rule stays.
    _fault(calls, {"route": "cloudresourcemanager.projects.get", "status": 503})
    _fault(calls, {"route": "cloudresourcemanager.projects.get", "commit_then_fail": 503})
    assert calls.google("GET", f"/v1/projects/{PROJECT_ID}").status_code == 503
    remaining = [f["remaining"] for f in calls.admin("GET", "/_emulator/faults").json()["faults"]]
    assert remaining == [0, 1]
    assert calls.google("GET", f"/v1/projects/{PROJECT_ID}").status_code == 503
    assert calls.google("GET", f"/v1/projects/{PROJECT_ID}").status_code == 200

