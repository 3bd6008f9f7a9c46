"""The gcp_federation plan: the module rules, the condition in parentheses, coercions."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import cel
from ansible_collections.keyless.wif.plugins.module_utils.wif.federation import plan
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

ACCT = "111111111111"
BASE = {
    "gcp_federation_state": "present", "gcp_federation_project": "wif-sandbox", "gcp_federation_pool_id": "aws-pool",
    "gcp_federation_provider_id": "aws-provider", "gcp_federation_service_account_id": "litellm-vertex",
    "gcp_federation_aws_role_arns": ["arn:aws:iam::%s:role/a" % ACCT], "gcp_federation_restrict_to_roles": True,
    "gcp_federation_manage_services": True, "gcp_federation_services": ["iam.googleapis.com"],
    "gcp_federation_vertex_roles": ["roles/aiplatform.user"], "gcp_federation_attribute_condition": "",
    "gcp_federation_attribute_mapping": {}, "gcp_federation_aws_account_id": "",
}


def make(**change):
    return plan(dict(BASE, **{"gcp_federation_" + k: v for k, v in change.items()}))


def test_condition_wraps_every_part():
    result = make(attribute_condition="assertion.arn.endsWith('/i-1') || assertion.arn.endsWith('/i-2')")
    assert result["attribute_condition"] == (
        "(assertion.arn.endsWith('/i-1') || assertion.arn.endsWith('/i-2')) && "
        "(attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/a\"])" % ACCT)
    cel.check_syntax(result["attribute_condition"], variables=("assertion", "attribute", "google"))


def test_no_restriction_and_no_condition_is_empty():
    assert make(restrict_to_roles=False)["attribute_condition"] == ""


def test_roles_are_deduplicated_in_assumed_role_form():
    result = make(aws_role_arns=["arn:aws:iam::%s:role/path/a" % ACCT, "arn:aws:sts::%s:assumed-role/a/i-1" % ACCT])
    assert result["aws_roles"] == ["arn:aws:sts::%s:assumed-role/a" % ACCT]
    assert result["account_id"] == ACCT


def test_the_plan_knows_no_host_fact_and_needs_the_arns():
    with pytest.raises(ValidationError) as caught:
        plan(dict(BASE, gcp_federation_aws_role_arns=[]))
    assert caught.value.field == "gcp_federation_aws_role_arns"
    assert "is empty" in caught.value.rule
    assert "identity_hosts" not in str(caught.value)


def test_domain_scoped_project_names_its_service_account():
    scoped = make(project="example.com:my-project")
    assert scoped["service_account_email"] == "litellm-vertex@my-project.example.com.iam.gserviceaccount.com"
    assert scoped["service_account_member"] == "serviceAccount:" + scoped["service_account_email"]
    assert make(project="123456789012")["service_account_email"] is None
    assert make(project="123456789012")["service_account_member"] is None


def test_a_project_number_is_named_by_the_id_google_answered():
    result = plan(dict(BASE, gcp_federation_project="123456789012"), "wif-sandbox")
    assert result["project"] == "123456789012"
    assert result["service_account_member"] == "serviceAccount:litellm-vertex@wif-sandbox.iam.gserviceaccount.com"


def test_absent_needs_no_roles():
    assert make(state="absent", aws_role_arns=[])["aws_roles"] == []


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"aws_account_id": 11111111111}, "gcp_federation_aws_account_id", "leading zeros"),
    ({"aws_role_arns": ["arn:aws:iam::%s:user/u" % ACCT]}, "gcp_federation_aws_role_arns[0]", "IAM user"),
    ({"pool_id": "aws-pool\n"}, "gcp_federation_pool_id", "one line"),
    ({"attribute_condition": "a ||"}, "gcp_federation_attribute_condition", "CEL"),
    ({"attribute_mapping": {"google.subject": "assertion.arn"}}, "gcp_federation_attribute_mapping", "aws_role"),
    ({"aws_role_arns": ["arn:aws:iam::%s:role/r%d" % (ACCT, i) for i in range(100)]}, "gcp_federation_aws_role_arns",
     "4096"),
])
def test_refusals_name_the_variable(change, field, rule):
    with pytest.raises(ValidationError) as caught:
        make(**change)
    assert caught.value.field == field
    assert rule in str(caught.value)


def test_the_pool_is_named_by_the_project_number_once_it_is_known():
    assert make()["pool_name"] is None
    result = plan(BASE, "wif-sandbox", "123456789012")
    assert result["pool_name"] == "projects/123456789012/locations/global/workloadIdentityPools/aws-pool"
    with pytest.raises(ValidationError, match="project_number"):
        plan(BASE, "wif-sandbox", "wif-sandbox")
