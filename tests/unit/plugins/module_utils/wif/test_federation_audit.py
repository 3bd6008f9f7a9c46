"""The gcp_federation plan's Cloud Audit Logs part (gcp_federation_audit_logs, gcp_federation_audit_log_types)."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif.federation import plan
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

BASE = {
    "gcp_federation_state": "present", "gcp_federation_project": "wif-sandbox", "gcp_federation_pool_id": "aws-pool",
    "gcp_federation_provider_id": "aws-provider", "gcp_federation_service_account_id": "litellm-vertex",
    "gcp_federation_aws_role_arns": ["arn:aws:iam::111111111111:role/a"], "gcp_federation_restrict_to_roles": True,
    "gcp_federation_manage_services": True, "gcp_federation_services": ["iam.googleapis.com"],
    "gcp_federation_vertex_roles": ["roles/aiplatform.user"], "gcp_federation_attribute_condition": "",
    "gcp_federation_attribute_mapping": {}, "gcp_federation_aws_account_id": "",
}
ALL = ["ADMIN_READ", "DATA_WRITE", "DATA_READ"]


def make(**change):
    return plan(dict(BASE, **{"gcp_federation_" + k: v for k, v in change.items()}))


def test_on_by_default_for_sts_and_iamcredentials_with_all_types():
    result = make()
    assert result["audit_logs"] is True and result["audit_log_types"] == ALL
    assert result["audit_log_configs"] == [{"service": "sts.googleapis.com", "log_types": ALL},
                                           {"service": "iamcredentials.googleapis.com", "log_types": ALL}]


def test_chosen_types_and_off():
    assert make(audit_log_types=["DATA_READ"])["audit_log_configs"][1] == {
        "service": "iamcredentials.googleapis.com", "log_types": ["DATA_READ"]}
    off = make(audit_logs="false", audit_log_types=[])
    assert off["audit_logs"] is False and off["audit_log_configs"] == []


@pytest.mark.parametrize(("change", "field"), [
    ({"audit_logs": "maybe"}, "gcp_federation_audit_logs"),
    ({"audit_log_types": []}, "gcp_federation_audit_log_types"),
    ({"audit_log_types": ["DATA_EVERYTHING"]}, "gcp_federation_audit_log_types[0]"),
    ({"audit_log_types": ["DATA_READ", "DATA_READ"]}, "gcp_federation_audit_log_types[1]"),
    ({"audit_logs": False, "audit_log_types": ["admin_read"]}, "gcp_federation_audit_log_types[0]"),
])
def test_bad_values_name_the_variable(change, field):
    with pytest.raises(ValidationError) as caught:
        make(**change)
    assert caught.value.field == field
