"""external_account.build(): the credential document from the role's variables, and its rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account, host_inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif.federation import plan
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

REPO = Path(__file__).resolve().parents[5]
AUDIENCE = ("//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool"
            "/providers/aws-provider")
EMAIL = "litellm-vertex@wif-sandbox.iam.gserviceaccount.com"


def settings(**change):
    """The role's defaults (the host-layout lookups resolved by hand) with some variables changed."""
    defaults = yaml.safe_load((REPO / "roles/external_account/defaults/main.yml").read_text())
    defaults.update(external_account_path="/etc/litellm/gcp_aws_external_account.json", external_account_group="litellm",
                    external_account_audience=AUDIENCE, external_account_service_account_email=EMAIL)
    defaults.update({"external_account_" + k: v for k, v in change.items()})
    return defaults


def test_ec2_mode_reads_imds():
    doc = external_account.build(settings())
    assert doc["type"] == "external_account" and doc["audience"] == AUDIENCE
    assert doc["subject_token_type"] == external_account.AWS_SUBJECT_TOKEN_TYPE
    assert doc["service_account_impersonation_url"] == (
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/%s:generateAccessToken" % EMAIL)
    assert set(doc["credential_source"]) == {"environment_id", "region_url", "url", "regional_cred_verification_url",
                                             "imdsv2_session_token_url"}
    assert "universe_domain" not in doc
    assert not [key for key in doc if key.startswith("aws_")]
    assert external_account.mode(doc) == "ec2" and external_account.problems(doc) == []


@pytest.mark.parametrize(("partition", "url"), [
    ("aws", "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"),
    ("aws-us-gov", "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"),
    ("aws-cn", "https://sts.{region}.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15"),
])
def test_the_verification_url_names_the_partition_s_sts_domain(partition, url):
    assert external_account.build(settings(aws_partition=partition))["credential_source"]["regional_cred_verification_url"] == url
    given = "https://sts.{region}.vpce.example.com?Action=GetCallerIdentity&Version=2011-06-15"
    built = external_account.build(settings(aws_partition=partition, regional_cred_verification_url=given))
    assert built["credential_source"]["regional_cred_verification_url"] == given


def test_an_unknown_partition_is_refused_naming_the_variable():
    with pytest.raises(ValidationError, match=r"external_account_aws_partition.*aws-cn"):
        external_account.build(settings(aws_partition="aws-mars"))


def test_explicit_mode_writes_only_the_aws_keys_given():
    doc = external_account.build(settings(mode="explicit", aws_region_name="eu-west-1", aws_profile_name="ra",
                                          universe_domain="googleapis.com"))
    assert doc["credential_source"] == {"environment_id": "aws1"}
    assert {k: v for k, v in doc.items() if k.startswith("aws_")} == {"aws_region_name": "eu-west-1", "aws_profile_name": "ra"}
    assert doc["universe_domain"] == "googleapis.com"
    assert external_account.mode(doc) == "explicit" and external_account.problems(doc) == []


def test_no_impersonation_without_an_email_and_an_explicit_url_wins():
    assert "service_account_impersonation_url" not in external_account.build(settings(service_account_email=""))
    url = "http://127.0.0.1:8081/v1/projects/-/serviceAccounts/%s:generateAccessToken" % EMAIL
    assert external_account.build(settings(service_account_impersonation_url=url))["service_account_impersonation_url"] == url


def test_a_domain_scoped_project_from_the_plan_is_accepted_by_the_host_role():
    federation = plan({"gcp_federation_project": "example.com:my-project", "gcp_federation_pool_id": "aws-pool",
                       "gcp_federation_provider_id": "aws-provider", "gcp_federation_service_account_id": "litellm-vertex",
                       "gcp_federation_aws_role_arns": ["arn:aws:iam::111111111111:role/a"],
                       "gcp_federation_services": ["iam.googleapis.com"], "gcp_federation_manage_services": True,
                       "gcp_federation_restrict_to_roles": True})
    email = federation["service_account_email"]
    assert email == "litellm-vertex@my-project.example.com.iam.gserviceaccount.com"
    assert host_inputs.check_external_account(settings(service_account_email=email))["mode"] == "ec2"
    # The shortest account names the modules accept work too.
    external_account.build(settings(service_account_email="sa@my-project.example.com.iam.gserviceaccount.com"))


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"audience": AUDIENCE.replace("123456789012", "my-project")}, "external_account_audience", "project NUMBER"),
    ({"service_account_email": "bob@example.com"}, "external_account_service_account_email", "service-account e-mail"),
    ({"mode": "explicit"}, "external_account_aws_region_name", "required in explicit mode"),
    ({"aws_region_name": "us-east-1"}, "external_account_aws_region_name", "mode is ec2"),
    ({"file_mode": "0644"}, "external_account_file_mode", "others"),
    ({"directory_mode": "750"}, "external_account_directory_mode", "octal"),
    ({"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/x"},
     "external_account_service_account_impersonation_url", "generateAccessToken"),
    ({"state": "absent"}, "external_account_state", "must be present"),
])
def test_bad_inputs_name_the_variable(change, field, rule):
    with pytest.raises(ValidationError) as caught:
        external_account.build(settings(**change))
    assert field in caught.value.field and rule in caught.value.rule


def test_preflight_and_build_share_one_rule_set():
    assert host_inputs.check_external_account is external_account.check


def test_secrets_are_flagged_but_never_returned():
    checked = external_account.check(settings(mode="explicit", aws_region_name="us-east-1",
                                              aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="s3cr3t"))
    assert checked["secrets_given"] is True and "s3cr3t" not in str(checked)
    assert external_account.check(settings())["secrets_given"] is False
