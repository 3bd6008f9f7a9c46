"""Least privilege: a controller holding only the collection's listed permissions converges.

The controller is a service account listed in control_plane_service_accounts; the admin token
(the bootstrap owner) writes the custom roles (from playbooks/controller_role.yml's definition
file) and binds the controller to one in the project policy. Its token then runs
keyless.wif.gcp_federation. With one permission taken out of the set, the run fails with a 403
naming exactly that permission: the list is complete, and no entry is spare.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from .gcp_harness import ADMIN_TOKEN, ANSIBLE_PLAYBOOK, AWS_ACCOUNT, PROJECT_ID, changed_tasks, federation_role_task, module_defaults

REPO = Path(__file__).resolve().parents[3]
CONTROLLER_ID = "wif-controller"
CONTROLLER = "%s@%s.iam.gserviceaccount.com" % (CONTROLLER_ID, PROJECT_ID)
DENIED_RE = re.compile(r"Permission '([^']+)' denied on resource")


def google(emu, method, path, body=None, token=ADMIN_TOKEN, params=""):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(emu.url + path + params, data=data, method=method,  # noqa: S310 - http://127.0.0.1 only
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read() or b"{}")


def role_definition(tmp_path, which):
    """The custom role file playbooks/controller_role.yml writes for ``which`` (site or teardown)."""
    path = tmp_path / ("%s-role.yml" % which)
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, str(REPO / "playbooks" / "controller_role.yml"), "-e", "controller_role_set=" + which,
                           "-e", "controller_role_file=" + str(path), "-e", "ansible_python_interpreter=" + sys.executable],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    definition = yaml.safe_load(path.read_text())
    assert set(definition) == {"title", "description", "stage", "includedPermissions"}
    return definition


@pytest.fixture
def controller(emu):
    """The controller account, listed in control_plane_service_accounts, and a token of it."""
    app = emu.server.app
    listed = app.config.control_plane_service_accounts
    app.config.control_plane_service_accounts = [CONTROLLER]
    account = google(emu, "POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, {"accountId": CONTROLLER_ID})
    token = "ya29.c.least-" + secrets.token_urlsafe(16)
    with app.lock:  # what generateAccessToken records for the account's token
        app.state.data["tokens"][token] = {"kind": "service_account", "email": CONTROLLER, "unique_id": account["uniqueId"],
                                           "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                                           "expires": app.now() + 3600, "issued": app.now()}
    yield token
    app.config.control_plane_service_accounts = listed


def bind_controller(emu, role_id, definition, drop=None):
    """Create the custom role (without ``drop``) and make it the controller's only project role."""
    role = dict(definition, includedPermissions=[p for p in definition["includedPermissions"] if p != drop])
    google(emu, "POST", "/v1/projects/%s/roles" % PROJECT_ID, {"roleId": role_id, "role": role})
    policy = google(emu, "POST", "/v1/projects/%s:getIamPolicy" % PROJECT_ID, {"options": {"requestedPolicyVersion": 3}})
    member = "serviceAccount:" + CONTROLLER
    bindings = [dict(b, members=[m for m in b["members"] if m != member]) for b in policy.get("bindings", [])]
    bindings.append({"role": "projects/%s/roles/%s" % (PROJECT_ID, role_id), "members": [member]})
    policy["bindings"] = [b for b in bindings if b["members"]]
    google(emu, "POST", "/v1/projects/%s:setIamPolicy" % PROJECT_ID, {"policy": policy})


def role_task(**variables):
    return federation_role_task(gcp_federation_project=PROJECT_ID, gcp_federation_pool_id="least-pool",
                                gcp_federation_aws_role_arns=["arn:aws:iam::%s:role/wif-bound-role" % AWS_ACCOUNT], **variables)


def denied_permissions(result):
    return set(DENIED_RE.findall(result.output))


def test_the_listed_permissions_are_enough_for_site_and_teardown(emu, play, controller, tmp_path):
    defaults = module_defaults(emu, access_token=controller)
    bind_controller(emu, "keylessSite", role_definition(tmp_path, "site"))
    first = play([role_task()], defaults=defaults)
    assert first.rc == 0, first.output[-4000:]
    assert changed_tasks(first)
    assert "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID in str(emu.state()["service_accounts"])
    writes = len(emu.writes())
    second = play([role_task()], defaults=defaults)
    assert second.rc == 0, second.output[-4000:]
    assert changed_tasks(second) == []
    assert len(emu.writes()) == writes

    bind_controller(emu, "keylessTeardown", role_definition(tmp_path, "teardown"))
    gone = play([role_task(gcp_federation_state="absent")], defaults=defaults)
    assert gone.rc == 0, gone.output[-4000:]
    assert changed_tasks(gone)
    again = play([role_task(gcp_federation_state="absent")], defaults=defaults)
    assert again.rc == 0, again.output[-4000:]
    assert changed_tasks(again) == []


POOLS = "/v1/projects/%s/locations/global/workloadIdentityPools" % PROJECT_ID
OTHER_ACCOUNT = "222222222222"


def pool(emu):
    google(emu, "POST", POOLS, {}, params="?workloadIdentityPoolId=least-pool")


def provider(emu, provider_id="aws-provider", account=AWS_ACCOUNT, **body):
    google(emu, "POST", POOLS + "/least-pool/providers", dict(body, aws={"accountId": account}),
           params="?workloadIdentityPoolProviderId=" + provider_id)


def deleted_pool(emu):
    pool(emu)
    google(emu, "DELETE", POOLS + "/least-pool")


def changed_pool(emu):
    google(emu, "POST", POOLS, {"displayName": "someone else's"}, params="?workloadIdentityPoolId=least-pool")


def deleted_provider(emu):
    pool(emu)
    provider(emu)
    google(emu, "DELETE", POOLS + "/least-pool/providers/aws-provider")


def changed_provider(emu):
    pool(emu)
    provider(emu, displayName="someone else's")


def unlisted_account_provider(emu):
    pool(emu)
    provider(emu, "aws-provider-" + OTHER_ACCOUNT, OTHER_ACCOUNT)


def changed_service_account(emu):
    google(emu, "POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID,
           {"accountId": "litellm-vertex", "serviceAccount": {"displayName": "someone else's"}})


def slow_operations(emu):
    emu.server.app.config.polls_before_done = 1


# Each permission of the site set, and what makes the role need it (None: a fresh project does).
SITE_CASES = {
    "resourcemanager.projects.get": None,
    "resourcemanager.projects.getIamPolicy": None,
    "resourcemanager.projects.setIamPolicy": None,
    "serviceusage.services.get": None,
    "serviceusage.services.enable": None,
    "serviceusage.operations.get": slow_operations,
    "iam.workloadIdentityPoolProviders.list": None,
    "iam.serviceAccounts.get": None,
    "iam.serviceAccounts.create": None,
    "iam.serviceAccounts.update": changed_service_account,
    "iam.serviceAccounts.getIamPolicy": None,
    "iam.serviceAccounts.setIamPolicy": None,
    "iam.workloadIdentityPools.get": None,
    "iam.workloadIdentityPools.create": None,
    "iam.workloadIdentityPools.update": changed_pool,
    "iam.workloadIdentityPools.undelete": deleted_pool,
    "iam.workloadIdentityPoolProviders.get": None,
    "iam.workloadIdentityPoolProviders.create": None,
    "iam.workloadIdentityPoolProviders.update": changed_provider,
    "iam.workloadIdentityPoolProviders.undelete": deleted_provider,
    "iam.workloadIdentityPoolProviders.delete": unlisted_account_provider,
}


def test_every_listed_permission_has_a_case_that_needs_it():
    from ansible_collections.keyless.wif.plugins.module_utils.wif import permissions as listed

    assert sorted(SITE_CASES) == listed.permission_set("site")


@pytest.fixture
def polls(emu):
    before = emu.server.app.config.polls_before_done
    yield
    emu.server.app.config.polls_before_done = before


@pytest.mark.parametrize("permission", sorted(SITE_CASES))
def test_without_one_site_permission_the_run_fails_naming_it(emu, play, controller, tmp_path, polls, permission):
    if SITE_CASES[permission] is not None:
        SITE_CASES[permission](emu)
    bind_controller(emu, "keylessSite", role_definition(tmp_path, "site"), drop=permission)
    result = play([role_task()], defaults=module_defaults(emu, access_token=controller))
    assert result.rc != 0
    assert denied_permissions(result) == {permission}, result.output[-4000:]


TEARDOWN = ["resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy",
            "iam.workloadIdentityPoolProviders.list", "iam.workloadIdentityPoolProviders.get",
            "iam.workloadIdentityPoolProviders.delete", "iam.workloadIdentityPools.get", "iam.workloadIdentityPools.delete",
            "iam.serviceAccounts.get", "iam.serviceAccounts.delete"]


def test_every_teardown_permission_is_tried():
    from ansible_collections.keyless.wif.plugins.module_utils.wif import permissions as listed

    assert sorted(TEARDOWN) == listed.permission_set("teardown")


@pytest.mark.parametrize("permission", TEARDOWN)
def test_without_one_teardown_permission_the_removal_fails_naming_it(emu, play, tmp_path, controller, permission):
    assert play([role_task()]).rc == 0  # set up with the admin token
    bind_controller(emu, "keylessTeardown", role_definition(tmp_path, "teardown"), drop=permission)
    result = play([role_task(gcp_federation_state="absent")], defaults=module_defaults(emu, access_token=controller))
    assert result.rc != 0
    assert denied_permissions(result) == {permission}, result.output[-4000:]


def test_every_permission_the_collection_lists_is_one_the_emulator_checks():
    from ansible_collections.keyless.wif.plugins.module_utils.wif import permissions as listed
    from wif_emulator import permissions as emulated

    unknown = sorted(set(listed.all_listed()) - emulated.KNOWN_PERMISSIONS)
    assert unknown == []
    for name in ("site", "teardown", "all"):
        assert set(listed.permission_set(name)) <= set(listed.all_listed()), name
    # Every module the sets name has the states they name (a typo there would be a KeyError at run time).
    for calls in listed.SET_CALLS.values():
        for module, state in calls:
            assert listed.module_permissions(module, state)
