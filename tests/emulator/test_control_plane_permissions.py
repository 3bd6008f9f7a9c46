"""Per-permission checks of control_plane_service_accounts tokens, and project custom roles."""

from __future__ import annotations

import secrets

import pytest
import requests
from conftest import ADMIN_TOKEN, CLOUD_PLATFORM, PROJECT_ID, PROJECT_NUMBER, make_config
from wif_emulator import permissions
from wif_emulator.routes import all_routes
from wif_emulator.server import EmulatorServer

CONTROLLER = "wif-controller@%s.iam.gserviceaccount.com" % PROJECT_ID
MEMBER = "serviceAccount:" + CONTROLLER
LOCATION = "projects/%s/locations/global" % PROJECT_ID


@pytest.fixture
def server():
    srv = EmulatorServer(make_config(control_plane_service_accounts=[CONTROLLER])).start()
    try:
        yield srv
    finally:
        srv.stop()


def call(srv, method, path, token=ADMIN_TOKEN, **kw):
    return requests.request(method, srv.base_url + path, headers={"Authorization": "Bearer " + token}, timeout=10, **kw)


def controller_token(srv):
    """The controller account (created by the admin) and a token of it, as generateAccessToken records one."""
    answer = call(srv, "POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, json={"accountId": "wif-controller"})
    assert answer.status_code == 200, answer.text
    token = "ya29.c.test-" + secrets.token_urlsafe(16)
    app = srv.app
    with app.lock:
        app.state.data["tokens"][token] = {"kind": "service_account", "email": CONTROLLER, "unique_id": answer.json()["uniqueId"],
                                           "scopes": [CLOUD_PLATFORM], "expires": app.now() + 3600, "issued": app.now()}
    return token


def grant(srv, role, member=MEMBER):
    policy = call(srv, "POST", "/v1/projects/%s:getIamPolicy" % PROJECT_ID).json()
    policy.setdefault("bindings", []).append({"role": role, "members": [member]})
    answer = call(srv, "POST", "/v1/projects/%s:setIamPolicy" % PROJECT_ID, json={"policy": policy})
    assert answer.status_code == 200, answer.text


def create_role(srv, role_id, included, token=ADMIN_TOKEN):
    return call(srv, "POST", "/v1/projects/%s/roles" % PROJECT_ID, token,
                json={"roleId": role_id, "role": {"title": role_id, "includedPermissions": included, "stage": "GA"}})


def assert_denied(answer, permission, resource):
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == "Permission '%s' denied on resource '%s' (or it may not exist)." % (permission, resource)
    info = error["details"][0]
    assert info["reason"] == "IAM_PERMISSION_DENIED" and info["metadata"]["permission"] == permission


def test_every_control_plane_route_has_a_permission():
    routes = {r.name for r in all_routes() if r.auth == "admin"}
    assert routes == set(permissions.ROUTE_PERMISSIONS)
    # Predefined roles hold only permissions the emulator knows (no typos there either).
    for role, perms in permissions.PREDEFINED_ROLES.items():
        assert perms <= permissions.KNOWN_PERMISSIONS, role


def test_a_custom_role_grants_exactly_its_permissions_and_a_403_changes_nothing(server):
    token = controller_token(server)
    pools = "/v1/%s/workloadIdentityPools" % LOCATION
    # No binding yet: even a read is refused, naming the permission and the resource.
    assert_denied(call(server, "GET", pools, token), "iam.workloadIdentityPools.list", "//iam.googleapis.com/" + LOCATION)
    answer = create_role(server, "poolCreator", ["iam.workloadIdentityPools.create", "iam.workloadIdentityPools.get"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "projects/%s/roles/poolCreator" % PROJECT_ID
    grant(server, "projects/%s/roles/poolCreator" % PROJECT_ID)

    created = call(server, "POST", pools, token, params={"workloadIdentityPoolId": "ctl-pool"}, json={})
    assert created.status_code == 200, created.text
    assert call(server, "GET", "%s/ctl-pool" % pools, token).status_code == 200
    # Not in the role: list, delete, and a service account create.
    assert_denied(call(server, "GET", pools, token), "iam.workloadIdentityPools.list", "//iam.googleapis.com/" + LOCATION)
    before = server.app.state.dump()
    assert_denied(call(server, "DELETE", "%s/ctl-pool" % pools, token), "iam.workloadIdentityPools.delete",
                  "//iam.googleapis.com/%s/workloadIdentityPools/ctl-pool" % LOCATION)
    assert_denied(call(server, "POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, token, json={"accountId": "sneaky-one"}),
                  "iam.serviceAccounts.create", "//iam.googleapis.com/projects/%s" % PROJECT_ID)
    assert_denied(call(server, "POST", "/v1/projects/%s:setIamPolicy" % PROJECT_ID, token, json={"policy": {}}),
                  "resourcemanager.projects.setIamPolicy", "//cloudresourcemanager.googleapis.com/projects/%s" % PROJECT_ID)
    after = server.app.state.dump()
    assert after["pools"] == before["pools"] and after["service_accounts"] == before["service_accounts"]
    assert after["projects"] == before["projects"]

    # A deleted custom role grants nothing any more; undeleted, it does again.
    assert call(server, "DELETE", "/v1/projects/%s/roles/poolCreator" % PROJECT_ID).json()["deleted"] is True
    assert_denied(call(server, "GET", "%s/ctl-pool" % pools, token), "iam.workloadIdentityPools.get",
                  "//iam.googleapis.com/%s/workloadIdentityPools/ctl-pool" % LOCATION)
    assert call(server, "POST", "/v1/projects/%s/roles/poolCreator:undelete" % PROJECT_ID).status_code == 200
    assert call(server, "GET", "%s/ctl-pool" % pools, token).status_code == 200


def test_predefined_roles_and_admin_tokens(server):
    token = controller_token(server)
    grant(server, "roles/iam.workloadIdentityPoolAdmin")
    pools = "/v1/%s/workloadIdentityPools" % LOCATION
    assert call(server, "GET", pools, token).status_code == 200
    assert call(server, "GET", "/v1/projects/%s" % PROJECT_ID, token).status_code == 200
    assert_denied(call(server, "GET", "/v1/projects/%s/services" % PROJECT_ID, token), "serviceusage.services.list",
                  "//serviceusage.googleapis.com/projects/%s" % PROJECT_ID)
    # Editor lacks setIamPolicy (basic roles: Editor cannot manage roles and permissions).
    grant(server, "roles/editor")
    assert call(server, "GET", "/v1/projects/%s/services" % PROJECT_ID, token).status_code == 200
    assert_denied(call(server, "POST", "/v1/projects/%s:setIamPolicy" % PROJECT_ID, token, json={"policy": {}}),
                  "resourcemanager.projects.setIamPolicy", "//cloudresourcemanager.googleapis.com/projects/%s" % PROJECT_ID)
    assert_denied(create_role(server, "mine", ["iam.roles.get"], token), "iam.roles.create",
                  "//iam.googleapis.com/projects/%s" % PROJECT_ID)
    # The project number names the project too; the admin token is never checked.
    assert call(server, "GET", "/v1/projects/%s/services" % PROJECT_NUMBER, token).status_code == 200
    assert call(server, "POST", "/v1/projects/%s:setIamPolicy" % PROJECT_ID, json={"policy": {}}).status_code == 200


def test_grants_and_custom_role_changes_take_effect_after_the_propagation_delay(server):
    token = controller_token(server)
    now = [server.app.now()]
    server.app.clock = lambda: now[0]
    call(server, "POST", "/_emulator/consistency", json={"iam_propagation_seconds": 60})
    create_role(server, "lister", ["iam.workloadIdentityPools.list"])
    grant(server, "projects/%s/roles/lister" % PROJECT_ID)
    pools = "/v1/%s/workloadIdentityPools" % LOCATION
    assert call(server, "GET", pools, token).status_code == 403
    now[0] += 61
    assert call(server, "GET", pools, token).status_code == 200
    # Removing the permission from the role: it keeps working for the delay, then stops.
    patched = call(server, "PATCH", "/v1/projects/%s/roles/lister" % PROJECT_ID, params={"updateMask": "includedPermissions"},
                   json={"includedPermissions": ["iam.workloadIdentityPools.get"]})
    assert patched.status_code == 200, patched.text
    assert call(server, "GET", pools, token).status_code == 200
    now[0] += 61
    assert call(server, "GET", pools, token).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"roleId": "x", "role": {"includedPermissions": []}}, "roleId"),
    ({"roleId": "okRole", "role": {"includedPermissions": ["iam.workloadIdentityPools.creat"]}}, "role.includedPermissions"),
    ({"roleId": "okRole", "role": {"stage": "SOON"}}, "role.stage"),
    ({"roleId": "okRole", "role": {"title": "t" * 101}}, "role.title"),
])
def test_custom_role_inputs_are_checked_naming_the_field(server, body, field):
    answer = call(server, "POST", "/v1/projects/%s/roles" % PROJECT_ID, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"][0]["fieldViolations"][0]["field"] == field
    assert call(server, "GET", "/v1/projects/%s/roles" % PROJECT_ID).json() == {}


def test_custom_role_lifecycle(server):
    assert create_role(server, "ctl", ["iam.roles.get"]).status_code == 200
    assert create_role(server, "ctl", ["iam.roles.get"]).status_code == 409
    got = call(server, "GET", "/v1/projects/%s/roles/ctl" % PROJECT_NUMBER).json()
    assert got["includedPermissions"] == ["iam.roles.get"] and got["stage"] == "GA"
    stale = call(server, "PATCH", "/v1/projects/%s/roles/ctl" % PROJECT_ID, params={"updateMask": "title"},
                 json={"title": "new", "etag": "stale"})
    assert stale.status_code == 409
    assert call(server, "GET", "/v1/projects/%s/roles/nope" % PROJECT_ID).status_code == 404
    assert [r["name"] for r in call(server, "GET", "/v1/projects/%s/roles" % PROJECT_ID).json()["roles"]] == [
        "projects/%s/roles/ctl" % PROJECT_ID]


def test_a_grant_on_a_service_account_itself_counts_for_that_account_only(server):
    token = controller_token(server)
    other = call(server, "POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, json={"accountId": "other-account"}).json()
    path = "/v1/projects/%s/serviceAccounts/%s" % (PROJECT_ID, other["email"])
    policy = {"bindings": [{"role": "roles/iam.serviceAccountAdmin", "members": [MEMBER]}]}
    assert call(server, "POST", path + ":setIamPolicy", json={"policy": policy}).status_code == 200
    assert call(server, "GET", path, token).status_code == 200
    assert_denied(call(server, "GET", "/v1/projects/%s/serviceAccounts/%s" % (PROJECT_ID, CONTROLLER), token),
                  "iam.serviceAccounts.get", "//iam.googleapis.com/projects/%s/serviceAccounts/%s" % (PROJECT_ID, CONTROLLER))
    assert_denied(call(server, "GET", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, token), "iam.serviceAccounts.list",
                  "//iam.googleapis.com/projects/%s" % PROJECT_ID)
