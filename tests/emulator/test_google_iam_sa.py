"""IAM service accounts and IAM policies (SA and project) through googleapiclient."""

from __future__ import annotations

import json
import re
import threading

import pytest
from conftest import PROJECT_ID, SA_EMAIL
from googleapiclient.errors import HttpError

SA_NAME = f"projects/-/serviceAccounts/{SA_EMAIL}"
MEMBER = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/*"


def _error(info: pytest.ExceptionInfo[HttpError]) -> dict:
    return json.loads(info.value.content)["error"]


def test_create_get_by_email_and_unique_id(sandbox):
    sa = sandbox.create_sa()
    assert sa["email"] == SA_EMAIL
    assert sa["name"] == f"projects/{PROJECT_ID}/serviceAccounts/{SA_EMAIL}"
    assert re.fullmatch(r"\d{21}", sa["uniqueId"])
    sas = sandbox.iam.projects().serviceAccounts()
    assert sas.get(name=SA_NAME).execute() == sa
    assert sas.get(name=f"projects/-/serviceAccounts/{sa['uniqueId']}").execute() == sa
    assert sas.list(name=f"projects/{PROJECT_ID}").execute()["accounts"] == [sa]
    with pytest.raises(HttpError) as info:
        sandbox.create_sa()
    assert _error(info)["code"] == 409


@pytest.mark.parametrize("account_id", ["short", "1starts-with-digit", "ends-with-", "UPPER-case-id", "x" * 31])
def test_account_id_rules(sandbox, account_id):
    with pytest.raises(HttpError) as info:
        sandbox.create_sa(account_id)
    err = _error(info)
    assert err["status"] == "INVALID_ARGUMENT"
    assert err["details"][0]["fieldViolations"][0]["field"] == "account_id"


def test_patch_takes_update_mask_in_body(sandbox):
    sandbox.create_sa()
    sas = sandbox.iam.projects().serviceAccounts()
    with pytest.raises(HttpError) as info:
        sas.patch(name=SA_NAME, body={"serviceAccount": {"description": "new"}}).execute()
    assert "updateMask" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sas.patch(name=SA_NAME, body={"serviceAccount": {"disabled": True}, "updateMask": "disabled"}).execute()
    assert "'disabled'" in _error(info)["message"]
    out = sas.patch(name=SA_NAME, body={"serviceAccount": {"description": "new", "displayName": "ignored"},
                                        "updateMask": "description"}).execute()
    assert out["description"] == "new"
    assert out["displayName"] == "LiteLLM"


def test_disable_enable_delete_undelete(sandbox):
    sa = sandbox.create_sa()
    sas = sandbox.iam.projects().serviceAccounts()
    sas.disable(name=SA_NAME, body={}).execute()
    assert sas.get(name=SA_NAME).execute()["disabled"] is True
    sas.enable(name=SA_NAME, body={}).execute()
    assert "disabled" not in sas.get(name=SA_NAME).execute()
    assert sas.delete(name=SA_NAME).execute() == {}
    with pytest.raises(HttpError) as info:
        sas.get(name=SA_NAME).execute()
    assert _error(info)["code"] == 404
    restored = sas.undelete(name=f"projects/-/serviceAccounts/{sa['uniqueId']}", body={}).execute()
    assert restored["restoredAccount"]["email"] == SA_EMAIL
    assert sas.get(name=SA_NAME).execute()["uniqueId"] == sa["uniqueId"]


def test_sa_policy_etag_version_and_conditions(sandbox):
    sandbox.create_sa()
    sas = sandbox.iam.projects().serviceAccounts()
    empty = sas.getIamPolicy(resource=SA_NAME).execute()
    assert empty == {"version": 1, "etag": "ACAB"}
    cond = {"title": "until 2099", "expression": 'request.time < timestamp("2099-01-01T00:00:00Z")'}
    binding = {"role": "roles/iam.workloadIdentityUser", "members": [MEMBER], "condition": cond}
    with pytest.raises(HttpError) as info:
        sas.setIamPolicy(resource=SA_NAME, body={"policy": {"etag": "ACAB", "bindings": [binding]}}).execute()
    assert "version 3" in _error(info)["message"]
    out = sas.setIamPolicy(resource=SA_NAME, body={"policy": {"etag": "ACAB", "version": 3,
                                                              "bindings": [binding]}}).execute()
    assert out["version"] == 3
    assert out["etag"] != "ACAB"
    v3 = sas.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    assert v3["bindings"] == [binding]
    v1 = sas.getIamPolicy(resource=SA_NAME).execute()
    assert v1["version"] == 1
    assert "_withcond_" in v1["bindings"][0]["role"]
    with pytest.raises(HttpError) as info:
        sas.setIamPolicy(resource=SA_NAME, body={"policy": {"bindings": [
            {"role": "roles/aiplatform.user", "members": [MEMBER]}]}}).execute()
    assert "not supported for this resource" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sas.setIamPolicy(resource=SA_NAME, body={"policy": {"bindings": [
            {"role": "roles/iam.workloadIdentityUser", "members": ["principalSet://bogus"]}]}}).execute()
    assert _error(info)["status"] == "INVALID_ARGUMENT"


def test_two_writers_racing_on_sa_policy(sandbox):
    sandbox.create_sa()
    sas = sandbox.iam.projects().serviceAccounts()
    a = sas.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    b = sas.getIamPolicy(resource=SA_NAME, options_requestedPolicyVersion=3).execute()
    a["bindings"] = [{"role": "roles/iam.workloadIdentityUser", "members": [MEMBER]}]
    b["bindings"] = [{"role": "roles/iam.serviceAccountUser", "members": ["user:b@example.com"]}]
    sas.setIamPolicy(resource=SA_NAME, body={"policy": a}).execute()
    with pytest.raises(HttpError) as info:
        sas.setIamPolicy(resource=SA_NAME, body={"policy": b}).execute()
    err = _error(info)
    assert (err["code"], err["status"]) == (409, "ABORTED")
    assert err["message"].startswith("There were concurrent policy changes.")
    # The winner's binding is intact.
    assert sas.getIamPolicy(resource=SA_NAME).execute()["bindings"][0]["members"] == [MEMBER]


def test_concurrent_writers_on_project_policy_exactly_one_wins(sandbox, emulator):
    from conftest import build_client

    start = sandbox.crm.projects().getIamPolicy(resource=PROJECT_ID, body={}).execute()
    results: list[object] = []
    barrier = threading.Barrier(4)

    def writer(i: int) -> None:
        # Each thread its own client (httplib2 is not thread-safe), all with the same stale etag.
        crm = build_client(emulator.base_url, "cloudresourcemanager", "v1")
        policy = json.loads(json.dumps(start))
        policy["bindings"].append({"role": "roles/viewer", "members": [f"user:w{i}@example.com"]})
        barrier.wait()
        try:
            results.append(crm.projects().setIamPolicy(resource=PROJECT_ID, body={"policy": policy}).execute())
        except HttpError as exc:
            results.append(exc.resp.status)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r for r in results if isinstance(r, int)) == [409, 409, 409]
    assert sum(isinstance(r, dict) for r in results) == 1


def test_project_policy_keeps_owner_and_crm_get(sandbox):
    proj = sandbox.crm.projects().get(projectId=PROJECT_ID).execute()
    assert proj["projectNumber"] == "123456789012"
    assert proj["lifecycleState"] == "ACTIVE"
    policy = sandbox.crm.projects().getIamPolicy(resource=PROJECT_ID, body={}).execute()
    assert policy["bindings"][0]["role"] == "roles/owner"
    with pytest.raises(HttpError) as info:
        sandbox.crm.projects().get(projectId="no-such-project").execute()
    assert _error(info)["code"] == 403

