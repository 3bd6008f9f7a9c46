"""Project policy auditConfigs through googleapiclient: stored, masked, validated, etag-bumped."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT_ID
from googleapiclient.errors import HttpError

STS = {"service": "sts.googleapis.com",
       "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": ["user:b@example.com", "user:a@example.com"]},
                           {"logType": "ADMIN_READ"}]}


def _error(info: pytest.ExceptionInfo[HttpError]) -> dict:
    return json.loads(info.value.content)["error"]


def _get(sandbox) -> dict:
    return sandbox.crm.projects().getIamPolicy(resource=PROJECT_ID, body={
        "options": {"requestedPolicyVersion": 3}}).execute()


def _set(sandbox, policy: dict, mask: str | None = "auditConfigs,etag") -> dict:
    body: dict = {"policy": policy}
    if mask is not None:
        body["updateMask"] = mask
    return sandbox.crm.projects().setIamPolicy(resource=PROJECT_ID, body=body).execute()


def test_audit_configs_change_only_with_mask(sandbox):
    start = _get(sandbox)
    assert "auditConfigs" not in start
    # Default mask "bindings, etag": the auditConfigs sent are ignored (but the etag still moves).
    unmasked = _set(sandbox, dict(start, auditConfigs=[STS]), mask=None)
    assert "auditConfigs" not in unmasked and "auditConfigs" not in _get(sandbox)
    assert unmasked["etag"] != start["etag"]
    stored = _set(sandbox, dict(unmasked, auditConfigs=[STS]))
    assert stored["etag"] != unmasked["etag"]
    expected = {"service": "sts.googleapis.com",
                "auditLogConfigs": [{"logType": "ADMIN_READ"},
                                    {"logType": "DATA_READ",
                                     "exemptedMembers": ["user:a@example.com", "user:b@example.com"]}]}
    assert stored["auditConfigs"] == [expected]
    read = _get(sandbox)
    assert read["auditConfigs"] == [expected]
    assert read["bindings"] == start["bindings"]


def test_bindings_write_keeps_audit_configs(sandbox):
    _set(sandbox, dict(_get(sandbox), auditConfigs=[STS]))
    policy = _get(sandbox)
    policy["bindings"].append({"role": "roles/viewer", "members": ["user:c@example.com"]})
    # A bindings-only client (default mask) that even drops auditConfigs leaves them in place.
    del policy["auditConfigs"]
    _set(sandbox, policy, mask=None)
    after = _get(sandbox)
    assert after["auditConfigs"][0]["service"] == "sts.googleapis.com"
    assert {"role": "roles/viewer", "members": ["user:c@example.com"]} in after["bindings"]


def test_mask_without_bindings_keeps_bindings(sandbox):
    start = _get(sandbox)
    _set(sandbox, {"etag": start["etag"], "auditConfigs": [STS]})
    after = _get(sandbox)
    assert after["bindings"] == start["bindings"]
    assert after["auditConfigs"][0]["service"] == "sts.googleapis.com"


def test_masked_empty_list_removes_audit_configs(sandbox):
    _set(sandbox, dict(_get(sandbox), auditConfigs=[STS]))
    policy = _get(sandbox)
    policy["auditConfigs"] = []
    _set(sandbox, policy)
    assert "auditConfigs" not in _get(sandbox)


def test_stale_etag_refused_for_audit_configs(sandbox):
    start = _get(sandbox)
    _set(sandbox, dict(start, auditConfigs=[STS]))
    with pytest.raises(HttpError) as info:
        _set(sandbox, dict(start, auditConfigs=[]))
    assert _error(info)["code"] == 409 and _error(info)["status"] == "ABORTED"
    assert _get(sandbox)["auditConfigs"]


@pytest.mark.parametrize(("configs", "field"), [
    ([{"service": "sts.googleapis.com", "auditLogConfigs": [{"logType": "DATA_EVERYTHING"}]}],
     "policy.auditConfigs[0].auditLogConfigs[0].logType"),
    ([{"service": "sts.googleapis.com", "auditLogConfigs": [{"logType": "LOG_TYPE_UNSPECIFIED"}]}],
     "policy.auditConfigs[0].auditLogConfigs[0].logType"),
    ([{"service": "Not A Service", "auditLogConfigs": [{"logType": "DATA_READ"}]}], "policy.auditConfigs[0].service"),
    ([{"auditLogConfigs": [{"logType": "DATA_READ"}]}], "policy.auditConfigs[0].service"),
    ([{"service": "sts.googleapis.com", "auditLogConfigs": []}], "policy.auditConfigs[0].auditLogConfigs"),
    ([{"service": "sts.googleapis.com",
       "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": ["alice@example.com"]}]}],
     "policy.auditConfigs[0].auditLogConfigs[0].exemptedMembers"),
    ([STS, dict(STS, auditLogConfigs=[{"logType": "DATA_WRITE"}])], "policy.auditConfigs[1].service"),
    ([{"service": "sts.googleapis.com", "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_READ"}]}],
     "policy.auditConfigs[0].auditLogConfigs[1].logType"),
])
def test_invalid_audit_configs_refused(sandbox, configs, field):
    start = _get(sandbox)
    for mask in ("auditConfigs,etag", None):  # parsed even when the mask leaves them out
        with pytest.raises(HttpError) as info:
            _set(sandbox, dict(start, auditConfigs=configs), mask=mask)
        err = _error(info)
        assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
        assert field in json.dumps(err)
    assert _get(sandbox)["etag"] == start["etag"]


def test_unknown_mask_path_refused(sandbox):
    with pytest.raises(HttpError) as info:
        _set(sandbox, dict(_get(sandbox), auditConfigs=[STS]), mask="auditConfigs,rules")
    assert _error(info)["code"] == 400 and "updateMask" in json.dumps(_error(info))


def test_all_services_and_snake_case_mask(sandbox):
    configs = [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_WRITE"}]}]
    stored = _set(sandbox, dict(_get(sandbox), auditConfigs=configs), mask="audit_configs, etag")
    assert stored["auditConfigs"] == configs
