"""The gcp_federation plan: the module rules, the condition in parentheses, coercions."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import cel, names
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


# --------------------------------------------------------------------------- several AWS accounts

OTHER = "222222222222"
THIRD = "333333333333"
TWO = ["arn:aws:iam::%s:role/a" % ACCT, "arn:aws:iam::%s:role/b" % OTHER, "arn:aws:sts::%s:assumed-role/c/i-1" % ACCT]


def provider(provider_id, account, state="ACTIVE"):
    """One entry as gcp_workload_identity_pool_provider_info answers it."""
    return {"name": "projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/%s" % provider_id,
            "provider_id": provider_id, "state": state, "aws": {"account_id": account}}


def test_one_account_keeps_todays_provider_and_condition():
    result = plan(BASE, "wif-sandbox", "123456789012", [provider("aws-provider", ACCT)])
    assert [(p["account_id"], p["provider_id"]) for p in result["providers"]] == [(ACCT, "aws-provider")]
    assert result["provider_id"] == "aws-provider" and result["account_id"] == ACCT
    assert result["attribute_condition"] == "(attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/a\"])" % ACCT
    assert result["remove_provider_ids"] == []
    audience = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-provider"
    assert result["audience"] == audience and result["audiences"] == {ACCT: audience}


def test_two_accounts_get_one_provider_each_with_its_own_roles():
    result = plan(dict(BASE, gcp_federation_aws_role_arns=TWO), "wif-sandbox", "123456789012")
    entries = {p["account_id"]: p for p in result["providers"]}
    assert list(entries) == [ACCT, OTHER]  # sorted: unlisted accounts have no order of their own
    assert entries[ACCT]["provider_id"] == "aws-provider-%s" % ACCT
    assert entries[OTHER]["provider_id"] == "aws-provider-%s" % OTHER
    assert entries[ACCT]["aws_roles"] == ["arn:aws:sts::%s:assumed-role/a" % ACCT, "arn:aws:sts::%s:assumed-role/c" % ACCT]
    assert entries[ACCT]["attribute_condition"] == (
        "(attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/a\", \"arn:aws:sts::%s:assumed-role/c\"])" % (ACCT, ACCT))
    assert entries[OTHER]["attribute_condition"] == "(attribute.aws_role in [\"arn:aws:sts::%s:assumed-role/b\"])" % OTHER
    # Every role is bound, whatever its account: the pool (and its principalSets) is shared.
    assert sorted(result["aws_roles"]) == sorted(entries[ACCT]["aws_roles"] + entries[OTHER]["aws_roles"])
    assert result["audiences"][OTHER].endswith("/providers/aws-provider-%s" % OTHER)
    assert result["audience"] == result["audiences"][ACCT]
    assert result["remove_provider_ids"] == []


def test_the_order_hosts_are_met_in_changes_no_provider():
    # A dynamic inventory (aws_ec2 names hosts by instance ID) meets the same hosts in any order;
    # a condition that followed it would update the provider on a run that changes nothing.
    forward = plan(dict(BASE, gcp_federation_aws_role_arns=TWO), "wif-sandbox", "123456789012")
    backward = plan(dict(BASE, gcp_federation_aws_role_arns=list(reversed(TWO))), "wif-sandbox", "123456789012")
    assert forward["providers"] == backward["providers"]
    assert forward["aws_roles"] == backward["aws_roles"]


def test_the_extra_condition_joins_every_account_provider_in_parentheses():
    result = make(aws_role_arns=TWO, attribute_condition="google.subject == 'x' || attribute.aws_role == 'y'")
    for entry in result["providers"]:
        assert entry["attribute_condition"].startswith("(google.subject == 'x' || attribute.aws_role == 'y') && (attribute.aws_role in [")
    assert [p["attribute_condition"] for p in make(aws_role_arns=TWO, restrict_to_roles=False)["providers"]] == ["", ""]


def test_an_existing_single_provider_stays_with_its_account_when_another_is_added():
    result = plan(dict(BASE, gcp_federation_aws_role_arns=TWO), existing_providers=[provider("aws-provider", OTHER)])
    assert {p["account_id"]: p["provider_id"] for p in result["providers"]} == {
        ACCT: "aws-provider-%s" % ACCT, OTHER: "aws-provider"}
    assert result["remove_provider_ids"] == []


def test_removing_an_account_removes_only_its_provider_and_keeps_the_others_ids():
    existing = [provider("aws-provider-%s" % ACCT, ACCT), provider("aws-provider-%s" % OTHER, OTHER),
                provider("someone-elses", THIRD), provider("aws-provider-x", ACCT),
                {"provider_id": "aws-provider-%s" % THIRD, "state": "ACTIVE", "oidc": {"issuer_uri": "https://x"}}]
    result = plan(BASE, existing_providers=existing)
    # The one account left keeps its derived provider (its hosts' audience does not change).
    assert [p["provider_id"] for p in result["providers"]] == ["aws-provider-%s" % ACCT]
    assert result["remove_provider_ids"] == ["aws-provider-%s" % OTHER]


def test_the_single_provider_no_account_uses_any_more_is_removed():
    existing = [provider("aws-provider", THIRD), provider("aws-provider-%s" % OTHER, OTHER, state="DELETED")]
    result = plan(dict(BASE, gcp_federation_aws_role_arns=TWO), existing_providers=existing)
    assert [p["provider_id"] for p in result["providers"]] == ["aws-provider-%s" % ACCT, "aws-provider-%s" % OTHER]
    assert result["remove_provider_ids"] == ["aws-provider"]
    # One account alone takes today's provider over when it has no derived one (as before: the account is patched).
    assert plan(BASE, existing_providers=existing)["providers"][0]["provider_id"] == "aws-provider"
    assert plan(BASE, existing_providers=existing)["remove_provider_ids"] == []


def test_absent_removes_every_provider_the_role_owns():
    existing = [provider("aws-provider-%s" % OTHER, OTHER), provider("other-provider", OTHER),
                provider("aws-provider-%s" % ACCT, ACCT, state="DELETED")]
    result = plan(dict(BASE, gcp_federation_state="absent"), existing_providers=existing)
    assert result["remove_provider_ids"] == ["aws-provider", "aws-provider-%s" % OTHER]
    assert plan(dict(BASE, gcp_federation_state="absent", gcp_federation_aws_role_arns=[]))["remove_provider_ids"] == [
        "aws-provider"]


def test_the_account_ids_list_orders_the_providers_and_admits_only_its_accounts():
    result = make(aws_role_arns=TWO, aws_account_ids=[OTHER, int(ACCT)])
    assert [p["account_id"] for p in result["providers"]] == [OTHER, ACCT]
    assert result["account_id"] == OTHER


def test_names_derive_and_parse_the_account_provider_id():
    assert names.account_provider_id("aws-provider", ACCT) == "aws-provider-111111111111"
    assert names.parse_account_provider_id("aws-provider", "aws-provider-111111111111") == ACCT
    for other in ("aws-provider", "aws-provider-1111", "aws-provider-x-111111111111", "aws-providers-111111111111",
                  "aws-provider-111111111111\n"):
        assert names.parse_account_provider_id("aws-provider", other) is None
    assert names.aws_account_of("arn:aws:sts::%s:assumed-role/r/i-1" % OTHER) == OTHER


@pytest.mark.parametrize(("change", "field", "rule"), [
    # A third account's role, when the accounts are pinned.
    ({"aws_role_arns": [*TWO, "arn:aws:iam::%s:role/z" % THIRD], "aws_account_ids": [ACCT, OTHER]},
     "gcp_federation_aws_role_arns[3]", "account %s, which gcp_federation_aws_account_ids" % THIRD),
    ({"aws_role_arns": TWO, "aws_account_id": ACCT}, "gcp_federation_aws_role_arns",
     "must all belong to gcp_federation_aws_account_id %s" % ACCT),
    ({"aws_role_arns": TWO, "aws_account_ids": [ACCT, OTHER, THIRD]}, "gcp_federation_aws_account_ids",
     "lists AWS account %s, but no role" % THIRD),
    ({"aws_account_ids": [ACCT], "aws_account_id": ACCT}, "gcp_federation_aws_account_ids", "cannot be combined"),
    ({"aws_account_ids": ["1234"]}, "gcp_federation_aws_account_ids[0]", "12-digit"),
    ({"aws_account_ids": [11111111111]}, "gcp_federation_aws_account_ids[0]", "leading zeros"),
    ({"aws_account_ids": {"a": 1}}, "gcp_federation_aws_account_ids", "list of 12-digit"),
    # PROVIDER_ID-ACCOUNT_ID must still be a provider ID: 20 + 13 > 32.
    ({"aws_role_arns": TWO, "provider_id": "p" * 20}, "gcp_federation_provider_id", "at most 19 characters"),
    ({"aws_role_arns": TWO + ["arn:aws:iam::%s:role/r%d" % (OTHER, i) for i in range(100)]}, "gcp_federation_aws_role_arns",
     "of account %s" % OTHER),
])
def test_several_account_refusals_name_the_variable_and_the_rule(change, field, rule):
    with pytest.raises(ValidationError) as caught:
        make(**change)
    assert caught.value.field == field
    assert rule in str(caught.value)


def test_a_long_provider_id_still_serves_one_account():
    assert make(provider_id="p" * 32)["providers"][0]["provider_id"] == "p" * 32
    derived = make(aws_role_arns=TWO, provider_id="p" * 19)["providers"][0]["provider_id"]
    assert len(derived) == 32
    assert names.WIF_ID_RE.fullmatch(derived)


def test_a_malformed_providers_answer_is_refused():
    with pytest.raises(ValidationError, match="gcp_workload_identity_pool_provider_info"):
        plan(BASE, existing_providers=[{"name": "x"}])
