"""generateAccessToken as a controller's impersonation uses it: direct, through a delegation chain,
from an admin token (config admin_principal), with google-auth's impersonated_credentials."""

from __future__ import annotations

import google.auth.exceptions
import google.auth.impersonated_credentials
import google.auth.transport.requests
import google.oauth2.credentials
import pytest
import requests
from conftest import ADMIN_TOKEN, CLOUD_PLATFORM, PROJECT_ID, Sandbox, make_config
from wif_emulator.config import ConfigError, parse_config
from wif_emulator.server import EmulatorServer

ADMIN_PRINCIPAL = "user:admin@example.com"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
ADMIN_SA = "kwif-admin@%s.iam.gserviceaccount.com" % PROJECT_ID
HOP_A = "kwif-hop-a@%s.iam.gserviceaccount.com" % PROJECT_ID
HOP_B = "kwif-hop-b@%s.iam.gserviceaccount.com" % PROJECT_ID
DENIED = "Permission 'iam.serviceAccounts.getAccessToken' denied"


@pytest.fixture
def server():
    srv = EmulatorServer(make_config(control_plane_service_accounts=[ADMIN_SA])).start()
    try:
        box = Sandbox(srv.base_url)
        box.enable_services()
        for account_id in ("kwif-admin", "kwif-hop-a", "kwif-hop-b"):
            box.create_sa(account_id)
        # The controller's account may do everything on the project (control-plane permission checks).
        box.add_project_binding("serviceAccount:" + ADMIN_SA, "roles/owner")
        srv.box = box
        yield srv
    finally:
        srv.stop()


def _generate(server, target, token=ADMIN_TOKEN, delegates=None, **body):
    body.setdefault("scope", [CLOUD_PLATFORM])
    if delegates is not None:
        body["delegates"] = delegates
    return requests.post("%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (server.base_url, target),
                         json=body, headers={"Authorization": "Bearer " + token}, timeout=10)


def _chain(*emails):
    return ["projects/-/serviceAccounts/%s" % e for e in emails]


def _project_get(server, token):
    return requests.get("%s/v1/projects/%s" % (server.base_url, PROJECT_ID),
                        headers={"Authorization": "Bearer " + token}, timeout=10)


def test_admin_token_without_a_binding_is_denied(server):
    # Owning the control plane does not grant getAccessToken: it takes an explicit binding.
    answer = _generate(server, ADMIN_SA)
    assert answer.status_code == 403
    assert DENIED in answer.json()["error"]["message"]


def test_direct_impersonation_from_the_admin_principal(server):
    server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, ADMIN_SA)
    answer = _generate(server, ADMIN_SA)
    assert answer.status_code == 200, answer.text
    token = answer.json()["accessToken"]
    record = server.app.state.data["tokens"][token]
    assert record["email"] == ADMIN_SA and record["delegates"] == []
    # Default lifetime: one hour.
    assert record["expires"] - record["issued"] == pytest.approx(3600, abs=1)
    # The account is in control_plane_service_accounts: its token reaches the control plane.
    assert _project_get(server, token).status_code == 200


def test_token_of_an_unlisted_account_does_not_reach_the_control_plane(server):
    server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, HOP_A)
    token = _generate(server, HOP_A).json()["accessToken"]
    assert _project_get(server, token).status_code == 401


def test_project_level_token_creator_binding_counts(server):
    server.box.add_project_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR)
    assert _generate(server, ADMIN_SA).status_code == 200


def test_another_admin_principal_is_named_by_config():
    srv = EmulatorServer(make_config(admin_principal="user:ops@example.org")).start()
    try:
        box = Sandbox(srv.base_url)
        box.enable_services()
        box.create_sa("kwif-admin")
        box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, ADMIN_SA)
        assert _generate(srv, ADMIN_SA).status_code == 403
        box.add_sa_binding("user:ops@example.org", TOKEN_CREATOR, ADMIN_SA)
        assert _generate(srv, ADMIN_SA).status_code == 200
    finally:
        srv.stop()


def test_admin_principal_must_be_a_user_or_service_account_member():
    with pytest.raises(ConfigError, match="admin_principal"):
        parse_config(make_config(admin_principal="admin@example.com"))


def _grant_chain(server):
    """admin -> hop-a -> hop-b -> kwif-admin."""
    server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, HOP_A)
    server.box.add_sa_binding("serviceAccount:" + HOP_A, TOKEN_CREATOR, HOP_B)
    server.box.add_sa_binding("serviceAccount:" + HOP_B, TOKEN_CREATOR, ADMIN_SA)


def test_delegated_chain(server):
    _grant_chain(server)
    answer = _generate(server, ADMIN_SA, delegates=_chain(HOP_A, HOP_B))
    assert answer.status_code == 200, answer.text
    record = server.app.state.data["tokens"][answer.json()["accessToken"]]
    assert record["email"] == ADMIN_SA and record["delegates"] == [HOP_A, HOP_B]
    # Without the delegates the caller itself holds nothing on the target.
    assert _generate(server, ADMIN_SA).status_code == 403


@pytest.mark.parametrize("missing", ["caller", "first hop", "last hop"])
def test_a_missing_link_is_denied_naming_the_permission(server, missing):
    if missing != "caller":
        server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, HOP_A)
    if missing != "first hop":
        server.box.add_sa_binding("serviceAccount:" + HOP_A, TOKEN_CREATOR, HOP_B)
    if missing != "last hop":
        server.box.add_sa_binding("serviceAccount:" + HOP_B, TOKEN_CREATOR, ADMIN_SA)
    answer = _generate(server, ADMIN_SA, delegates=_chain(HOP_A, HOP_B))
    assert answer.status_code == 403
    assert DENIED in answer.json()["error"]["message"]


def test_delegates_in_the_wrong_order_are_denied(server):
    _grant_chain(server)
    assert _generate(server, ADMIN_SA, delegates=_chain(HOP_B, HOP_A)).status_code == 403


def test_a_workload_identity_user_binding_does_not_make_a_delegate_link(server):
    server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, HOP_A)
    server.box.add_sa_binding("serviceAccount:" + HOP_A, "roles/iam.workloadIdentityUser", ADMIN_SA)
    assert _generate(server, ADMIN_SA, delegates=_chain(HOP_A)).status_code == 403


@pytest.mark.parametrize("delegate", [HOP_A, "projects/%s/serviceAccounts/%s" % (PROJECT_ID, HOP_A),
                                      "projects/-/serviceAccounts/", "serviceAccount:" + HOP_A, 7])
def test_bad_delegate_format_is_400_naming_the_field(server, delegate):
    _grant_chain(server)
    answer = _generate(server, ADMIN_SA, delegates=[delegate])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "delegates[0]" in error["message"] and "projects/-/serviceAccounts/" in error["message"]


def test_unknown_delegate_is_denied(server):
    _grant_chain(server)
    ghost = "kwif-ghost@%s.iam.gserviceaccount.com" % PROJECT_ID
    assert _generate(server, ADMIN_SA, delegates=_chain(ghost)).status_code == 403


def test_lifetime_above_an_hour_is_refused(server):
    server.box.add_sa_binding(ADMIN_PRINCIPAL, TOKEN_CREATOR, ADMIN_SA)
    assert _generate(server, ADMIN_SA, lifetime="3601s").status_code == 400
    answer = _generate(server, ADMIN_SA, lifetime="600s")
    record = server.app.state.data["tokens"][answer.json()["accessToken"]]
    assert record["expires"] - record["issued"] == pytest.approx(600, abs=1)


def test_expired_source_token_is_401(server):
    _grant_chain(server)
    server.box.add_sa_binding("serviceAccount:" + HOP_A, TOKEN_CREATOR, ADMIN_SA)
    source = _generate(server, HOP_A).json()["accessToken"]
    assert _generate(server, ADMIN_SA, token=source).status_code == 200
    server.app.state.data["tokens"][source]["expires"] = server.app.now() - 1
    answer = _generate(server, ADMIN_SA, token=source)
    assert answer.status_code == 401
    assert answer.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_google_auth_impersonated_credentials_against_the_emulator(server):
    """google-auth's client, pointed at the emulator with iam_endpoint_override, over a chain."""
    _grant_chain(server)
    creds = google.auth.impersonated_credentials.Credentials(
        source_credentials=google.oauth2.credentials.Credentials(ADMIN_TOKEN),
        target_principal=ADMIN_SA, target_scopes=[CLOUD_PLATFORM], delegates=_chain(HOP_A, HOP_B),
        iam_endpoint_override="%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (server.base_url, ADMIN_SA))
    creds.refresh(google.auth.transport.requests.Request())
    assert server.app.state.data["tokens"][creds.token]["email"] == ADMIN_SA
    assert _project_get(server, creds.token).status_code == 200
    broken = google.auth.impersonated_credentials.Credentials(
        source_credentials=google.oauth2.credentials.Credentials(ADMIN_TOKEN),
        target_principal=ADMIN_SA, target_scopes=[CLOUD_PLATFORM], delegates=_chain(HOP_B),
        iam_endpoint_override="%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (server.base_url, ADMIN_SA))
    with pytest.raises(google.auth.exceptions.RefreshError, match=r"iam\.serviceAccounts\.getAccessToken"):
        broken.refresh(google.auth.transport.requests.Request())
