"""Audit-config merge, validation and the masked read-modify-write."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.gcp.audit import (
    AUDIT_UPDATE_MASK,
    apply_audit_config,
    audit_config_view,
    desired_audit_config,
    enabled_log_types,
    ensure_audit_config,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import GcpClient
from ansible_collections.keyless.wif.plugins.module_utils.gcp.iam import IamPolicyTarget, apply_bindings, desired_bindings
from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RetryPolicy
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError
from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import (
    FakeClock,
    FakeResponse,
    ScriptedSession,
    google_error,
)

STS = "sts.googleapis.com"
OTHER = {"service": "storage.googleapis.com", "auditLogConfigs": [{"logType": "DATA_READ"}]}


def wanted(service=STS, log_types=None, exempted=None, state="present"):
    return desired_audit_config(service, log_types, exempted, state)


def test_present_creates_entry_with_all_types_by_default_and_keeps_the_rest():
    policy = {"etag": "e", "version": 1, "bindings": [{"role": "roles/a", "members": ["user:x@y.com"]}],
              "auditConfigs": [OTHER]}
    new = apply_audit_config(policy, wanted())
    assert new["auditConfigs"][0] == OTHER
    assert new["auditConfigs"][1] == {"service": STS, "auditLogConfigs": [
        {"logType": "ADMIN_READ"}, {"logType": "DATA_WRITE"}, {"logType": "DATA_READ"}]}
    assert new["bindings"] == policy["bindings"] and new["etag"] == "e"
    assert policy["auditConfigs"] == [OTHER]                 # input untouched
    assert apply_audit_config(new, wanted()) is None
    assert enabled_log_types(new, STS) == ["ADMIN_READ", "DATA_WRITE", "DATA_READ"]


def test_present_is_additive_on_log_types():
    policy = {"auditConfigs": [{"service": STS, "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:a@y.com"]}]}]}
    new = apply_audit_config(policy, wanted(log_types=["ADMIN_READ"]))
    assert new["auditConfigs"][0]["auditLogConfigs"] == [
        {"logType": "ADMIN_READ"}, {"logType": "DATA_READ", "exemptedMembers": ["user:a@y.com"]}]
    # Existing exemptions stay unless exempted_members is given.
    assert apply_audit_config(new, wanted(log_types=["DATA_READ"])) is None


def test_exempted_members_are_set_exactly_per_listed_type():
    policy = {"auditConfigs": [{"service": STS, "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:a@y.com"]}, {"logType": "DATA_WRITE"}]}]}
    new = apply_audit_config(policy, wanted(log_types=["DATA_READ"], exempted=["user:b@y.com", "user:b@y.com"]))
    logs = new["auditConfigs"][0]["auditLogConfigs"]
    assert logs == [{"logType": "DATA_WRITE"}, {"logType": "DATA_READ", "exemptedMembers": ["user:b@y.com"]}]
    # The server answers members sorted; order alone is no change.
    assert apply_audit_config(new, wanted(log_types=["DATA_READ"], exempted=["user:b@y.com"])) is None
    cleared = apply_audit_config(new, wanted(log_types=["DATA_READ"], exempted=[]))
    assert cleared["auditConfigs"][0]["auditLogConfigs"][1] == {"logType": "DATA_READ"}


def test_absent_removes_only_listed_types_and_drops_empty_entry():
    full = apply_audit_config({"auditConfigs": [OTHER]}, wanted())
    fewer = apply_audit_config(full, wanted(log_types=["DATA_READ"], state="absent"))
    assert enabled_log_types(fewer, STS) == ["ADMIN_READ", "DATA_WRITE"]
    assert apply_audit_config(fewer, wanted(log_types=["DATA_READ"], state="absent")) is None
    gone = apply_audit_config(fewer, wanted(log_types=["ADMIN_READ", "DATA_WRITE"], state="absent"))
    assert gone["auditConfigs"] == [OTHER]
    assert apply_audit_config(gone, wanted(state="absent")) is None


def test_absent_without_log_types_removes_the_whole_entry():
    full = apply_audit_config({}, wanted())
    gone = apply_audit_config(full, wanted(state="absent"))
    assert gone["auditConfigs"] == []
    assert audit_config_view(gone, STS) is None and enabled_log_types(gone, STS) == []


def test_view_is_snake_case():
    policy = {"auditConfigs": [{"service": STS, "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:b@y.com", "user:a@y.com"]}, {"logType": "ADMIN_READ"}]}]}
    assert audit_config_view(policy, STS) == {"service": STS, "audit_log_configs": [
        {"log_type": "ADMIN_READ", "exempted_members": []},
        {"log_type": "DATA_READ", "exempted_members": ["user:a@y.com", "user:b@y.com"]}]}


@pytest.mark.parametrize(("args", "field"), [
    (dict(service="sts"), "service"),
    (dict(service="Not a service"), "service"),
    (dict(service="allservices"), "service"),
    (dict(log_types=["DATA_EVERYTHING"]), "log_types[0]"),
    (dict(log_types=["DATA_READ", "DATA_READ"]), "log_types[1]"),
    (dict(log_types=[]), "log_types"),
    (dict(exempted=["alice@example.com"]), "exempted_members[0]"),
    (dict(exempted=["user:a@y.com"], state="absent"), "exempted_members"),
])
def test_bad_inputs_name_the_option(args, field):
    with pytest.raises(ValidationError) as info:
        wanted(**args)
    assert info.value.field == field


def test_all_services_is_accepted():
    assert wanted(service="allServices")[0] == "allServices"


def test_bindings_change_keeps_audit_configs():
    """gcp_project_iam_member's mutation carries auditConfigs through unchanged."""
    policy = {"etag": "e", "bindings": [], "auditConfigs": [OTHER]}
    new = apply_bindings(policy, desired_bindings("roles/a", ["user:me@y.com"]))
    assert new["auditConfigs"] == [OTHER]


def _client(answers):
    clock = FakeClock()
    policy = RetryPolicy(retries=8, max_total=120.0, clock=clock.clock, sleep=clock.sleep, rand=lambda: 0.5)
    session = ScriptedSession(answers)
    endpoints = {"iam": "http://emu", "cloudresourcemanager": "http://emu", "serviceusage": "http://emu"}
    return GcpClient(session, endpoints, policy), session


def test_write_sends_the_audit_mask_and_redoes_on_etag_conflict():
    first = {"etag": "e1", "version": 1, "bindings": []}
    second = {"etag": "e2", "version": 1, "bindings": [], "auditConfigs": [OTHER]}

    def answer_write(method, url, params, body):
        return FakeResponse(200, dict(body["policy"], etag="e3"))

    client, session = _client([FakeResponse(200, first), google_error(409, "ABORTED", "concurrent"),
                               FakeResponse(200, second), answer_write])
    target = IamPolicyTarget("cloudresourcemanager", "projects/p")
    changed, before, after = ensure_audit_config(client, target, wanted())
    assert changed and before["etag"] == "e2" and after["etag"] == "e3"
    writes = [c for c in session.calls if c["url"].endswith(":setIamPolicy")]
    assert len(writes) == 2
    assert all(c["json"]["updateMask"] == AUDIT_UPDATE_MASK for c in writes)
    assert writes[0]["json"]["policy"]["etag"] == "e1" and writes[1]["json"]["policy"]["etag"] == "e2"
    # The re-read's other entry survives the retried write.
    assert writes[1]["json"]["policy"]["auditConfigs"][0] == OTHER
    assert client.retried and client.retried[0]["google_status"] == "ABORTED"


def test_check_mode_and_noop_do_not_write():
    done = apply_audit_config({"etag": "e"}, wanted())
    client, session = _client([FakeResponse(200, {"etag": "e"}), FakeResponse(200, done)])
    target = IamPolicyTarget("cloudresourcemanager", "projects/p")
    assert ensure_audit_config(client, target, wanted(), check_mode=True)[0] is True
    assert ensure_audit_config(client, target, wanted())[0] is False
    assert not [c for c in session.calls if c["url"].endswith(":setIamPolicy")]
