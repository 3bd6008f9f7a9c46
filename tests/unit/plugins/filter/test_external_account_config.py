"""The external_account_config filter: the document, or an Ansible error naming the variable."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.filter.external_account_config import FilterModule

FILTER = FilterModule().filters()["external_account_config"]
SETTINGS = {
    "external_account_state": "present", "external_account_mode": "ec2",
    "external_account_audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool"
                                 "/providers/aws-provider",
    "external_account_service_account_email": "", "external_account_path": "/etc/litellm/gcp.json",
    "external_account_owner": "root", "external_account_group": "litellm", "external_account_file_mode": "0640",
    "external_account_directory_mode": "0750", "external_account_create_group": True,
    "external_account_token_url": "https://sts.googleapis.com/v1/token",
    "external_account_iamcredentials_url": "https://iamcredentials.googleapis.com",
    "external_account_environment_id": "aws1",
    "external_account_region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
    "external_account_credentials_url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
    "external_account_regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
    "external_account_imdsv2_session_token_url": "", "external_account_validate_python": "/usr/bin/python3",
}


def test_the_filter_returns_the_document():
    doc = FILTER(SETTINGS)
    assert doc["type"] == "external_account"
    assert "imdsv2_session_token_url" not in doc["credential_source"]


def test_a_bad_input_is_an_ansible_error_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match="invalid input: external_account_mode must be one of ec2, explicit"):
        FILTER(dict(SETTINGS, external_account_mode="fargate"))
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        FILTER(["external_account_mode"])
