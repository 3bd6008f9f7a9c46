"""IAM v1 workload identity pools and providers through googleapiclient."""

from __future__ import annotations

import json

import pytest
from conftest import ACCOUNT, POOL, POOL_PATH, PROJECT_ID, PROJECT_NUMBER, PROVIDER, make_config, wait_op
from googleapiclient.errors import HttpError
from wif_emulator.celeval import DEFAULT_AWS_MAPPING
from wif_emulator.server import EmulatorServer

PARENT = f"projects/{PROJECT_ID}/locations/global"


def _error(info: pytest.ExceptionInfo[HttpError]) -> dict:
    return json.loads(info.value.content)["error"]


def test_create_get_list_uses_project_number(sandbox):
    op = sandbox.pools.create(parent=PARENT, workloadIdentityPoolId=POOL,
                              body={"displayName": "AWS pool", "description": "d"}).execute()
    assert op["name"].startswith(f"{POOL_PATH}/operations/")
    assert op["done"] is True
    pool = sandbox.pools.get(name=f"{PARENT}/workloadIdentityPools/{POOL}").execute()
    assert pool["name"] == POOL_PATH
    assert pool["state"] == "ACTIVE"
    assert pool["displayName"] == "AWS pool"
    assert "disabled" not in pool  # proto3 JSON leaves false out
    listed = sandbox.pools.list(parent=PARENT).execute()
    assert [p["name"] for p in listed["workloadIdentityPools"]] == [POOL_PATH]


@pytest.mark.parametrize(("pool_id", "rule"), [
    ("abc", "4-32 characters"),
    ("Upper-case", "4-32 characters"),
    ("x" * 33, "4-32 characters"),
    ("gcp-pool", "reserved"),
])
def test_pool_id_rules(sandbox, pool_id, rule):
    with pytest.raises(HttpError) as info:
        sandbox.pools.create(parent=PARENT, workloadIdentityPoolId=pool_id, body={}).execute()
    err = _error(info)
    assert err["code"] == 400
    assert err["status"] == "INVALID_ARGUMENT"
    assert rule in err["message"]
    assert err["details"][0]["fieldViolations"][0]["field"] == "workload_identity_pool_id"


def test_display_name_and_description_limits(sandbox):
    for body, field in (({"displayName": "x" * 33}, "display_name"), ({"description": "d" * 257}, "description")):
        with pytest.raises(HttpError) as info:
            sandbox.pools.create(parent=PARENT, workloadIdentityPoolId="pool-x", body=body).execute()
        assert _error(info)["details"][0]["fieldViolations"][0]["field"] == field
    # Nothing was created by the refused calls.
    assert sandbox.pools.list(parent=PARENT, showDeleted=True).execute() == {}


def test_soft_delete_409_and_undelete(sandbox):
    sandbox.create_pool()
    op = sandbox.pools.delete(name=POOL_PATH).execute()
    wait_op(sandbox.pools.operations(), op)
    pool = sandbox.pools.get(name=POOL_PATH).execute()
    assert pool["state"] == "DELETED"
    assert "expireTime" in pool
    assert sandbox.pools.list(parent=PARENT).execute() == {}
    assert len(sandbox.pools.list(parent=PARENT, showDeleted=True).execute()["workloadIdentityPools"]) == 1
    with pytest.raises(HttpError) as info:
        sandbox.pools.create(parent=PARENT, workloadIdentityPoolId=POOL, body={}).execute()
    assert _error(info)["code"] == 409
    assert _error(info)["status"] == "ALREADY_EXISTS"
    with pytest.raises(HttpError) as info:
        sandbox.pools.patch(name=POOL_PATH, updateMask="displayName", body={"displayName": "x"}).execute()
    assert _error(info)["status"] == "FAILED_PRECONDITION"
    wait_op(sandbox.pools.operations(), sandbox.pools.undelete(name=POOL_PATH, body={}).execute())
    pool = sandbox.pools.get(name=POOL_PATH).execute()
    assert pool["state"] == "ACTIVE"
    assert "expireTime" not in pool


def test_patch_needs_a_valid_update_mask(sandbox):
    sandbox.create_pool(displayName="before", description="keep")
    with pytest.raises(HttpError) as info:
        sandbox.pools.patch(name=POOL_PATH, body={"displayName": "after"}).execute()
    assert "updateMask" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sandbox.pools.patch(name=POOL_PATH, updateMask="display_name,state", body={"displayName": "after"}).execute()
    assert "'state'" in _error(info)["message"]
    op = sandbox.pools.patch(name=POOL_PATH, updateMask="displayName,disabled",
                             body={"displayName": "after", "description": "ignored", "disabled": True}).execute()
    assert op["response"]["displayName"] == "after"
    pool = sandbox.pools.get(name=POOL_PATH).execute()
    assert (pool["displayName"], pool["description"], pool["disabled"]) == ("after", "keep", True)
    # A masked field absent from the body is cleared, as with Google's FieldMask.
    sandbox.pools.patch(name=POOL_PATH, updateMask="description", body={}).execute()
    assert "description" not in sandbox.pools.get(name=POOL_PATH).execute()


def test_provider_default_aws_mapping_and_custom_mapping_rules(sandbox):
    sandbox.create_pool()
    op = sandbox.create_provider()
    assert op["response"]["attributeMapping"] == DEFAULT_AWS_MAPPING
    prov = sandbox.providers.get(name=f"{POOL_PATH}/providers/{PROVIDER}").execute()
    assert prov["aws"] == {"accountId": ACCOUNT}
    assert prov["attributeMapping"] == DEFAULT_AWS_MAPPING
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="custom-prov", attributeMapping={"attribute.aws_role": "assertion.arn"})
    assert "google.subject" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="bad-cel", attributeCondition="assertion.arn ==")
    assert _error(info)["details"][0]["fieldViolations"][0]["field"] == "attribute_condition"
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="long-cond", attributeCondition="true || " * 600 + "true")
    assert "4096" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="bad-acct", account="12345")
    assert _error(info)["details"][0]["fieldViolations"][0]["field"] == "aws.account_id"


def test_provider_patch_mask_names(sandbox):
    sandbox.create_pool()
    sandbox.create_provider()
    name = f"{POOL_PATH}/providers/{PROVIDER}"
    op = sandbox.providers.patch(name=name, updateMask="attributeCondition,aws",
                                 body={"attributeCondition": "assertion.account == '222222222222'",
                                       "aws": {"accountId": "222222222222"}}).execute()
    wait_op(sandbox.providers.operations(), op)
    prov = sandbox.providers.get(name=name).execute()
    assert prov["aws"]["accountId"] == "222222222222"
    assert prov["attributeCondition"] == "assertion.account == '222222222222'"
    with pytest.raises(HttpError) as info:
        sandbox.providers.patch(name=name, updateMask="issuer", body={}).execute()
    assert "allowed paths" in _error(info)["message"]
    # A refused patch changes nothing, even for the valid fields it also names.
    with pytest.raises(HttpError):
        sandbox.providers.patch(name=name, updateMask="displayName,attributeMapping",
                                body={"displayName": "new", "attributeMapping": {"attribute.x": "assertion.arn"}}).execute()
    assert "displayName" not in sandbox.providers.get(name=name).execute()


def test_provider_soft_delete_and_list_show_deleted(sandbox):
    sandbox.create_pool()
    for i in range(3):
        sandbox.create_provider(provider=f"prov-{i}")
    wait_op(sandbox.providers.operations(), sandbox.providers.delete(name=f"{POOL_PATH}/providers/prov-1").execute())
    listed = sandbox.providers.list(parent=POOL_PATH).execute()["workloadIdentityPoolProviders"]
    assert [p["name"].rsplit("/", 1)[1] for p in listed] == ["prov-0", "prov-2"]
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="prov-1")
    assert _error(info)["code"] == 409
    page1 = sandbox.providers.list(parent=POOL_PATH, showDeleted=True, pageSize=2).execute()
    assert len(page1["workloadIdentityPoolProviders"]) == 2
    page2 = sandbox.providers.list(parent=POOL_PATH, showDeleted=True, pageSize=2,
                                   pageToken=page1["nextPageToken"]).execute()
    assert [p["state"] for p in page2["workloadIdentityPoolProviders"]] == ["ACTIVE"]
    assert "nextPageToken" not in page2
    wait_op(sandbox.providers.operations(),
            sandbox.providers.undelete(name=f"{POOL_PATH}/providers/prov-1", body={}).execute())
    assert sandbox.providers.get(name=f"{POOL_PATH}/providers/prov-1").execute()["state"] == "ACTIVE"


def test_operations_stay_pending_for_configured_polls():
    srv = EmulatorServer(make_config(operations={"polls_before_done": 2})).start()
    try:
        from conftest import Sandbox

        sb = Sandbox(srv.base_url)
        op = sb.pools.create(parent=PARENT, workloadIdentityPoolId=POOL, body={}).execute()
        assert op["done"] is False
        ops = sb.pools.operations()
        assert ops.get(name=op["name"]).execute()["done"] is False
        assert ops.get(name=op["name"]).execute()["done"] is False
        final = ops.get(name=op["name"]).execute()
        assert final["done"] is True
        assert final["response"]["name"] == POOL_PATH
    finally:
        srv.stop()


def test_iam_api_must_be_enabled(sandbox):
    sandbox.su.services().disable(name=f"projects/{PROJECT_NUMBER}/services/iam.googleapis.com",
                                  body={"disableDependentServices": True}).execute()
    with pytest.raises(HttpError) as info:
        sandbox.pools.list(parent=PARENT).execute()
    err = _error(info)
    assert err["code"] == 403
    assert err["details"][0]["reason"] == "SERVICE_DISABLED"


def test_unknown_pool_is_404(sandbox):
    with pytest.raises(HttpError) as info:
        sandbox.pools.get(name=f"{PARENT}/workloadIdentityPools/nope-pool").execute()
    assert _error(info)["status"] == "NOT_FOUND"
