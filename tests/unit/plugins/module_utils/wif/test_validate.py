"""Validation rules: each failure names the field and the rule."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import validate as v


@pytest.mark.parametrize(("func", "args", "field", "rule_part"), [
    (v.check_wif_id, ("pool_id", "abc"), "pool_id", "4-32"),
    (v.check_wif_id, ("pool_id", "a" * 33), "pool_id", "4-32"),
    (v.check_wif_id, ("pool_id", "Upper-case"), "pool_id", "[a-z0-9-]"),
    (v.check_wif_id, ("pool_id", "gcp-pool"), "pool_id", "reserved prefix"),
    (v.check_sa_account_id, ("account_id", "short"), "account_id", "6-30"),
    (v.check_sa_account_id, ("account_id", "1starts-digit"), "account_id", "[a-z]"),
    (v.check_sa_account_id, ("account_id", "ends-with-"), "account_id", "[a-z]"),
    (v.check_length, ("display_name", "x" * 33, 32), "display_name", "at most 32"),
    (v.check_aws_account_id, ("account_id", "12345678901"), "account_id", "12-digit"),
    (v.check_aws_account_id, ("account_id", "12345678901a"), "account_id", "12-digit"),
    (v.check_cel, ("attribute_condition", "x" * 4097), "attribute_condition", "at most 4096"),
    (v.check_cel, ("attribute_condition", "f(a"), "attribute_condition", "parentheses"),
    (v.check_cel, ("attribute_condition", "a == 'b"), "attribute_condition", "unterminated"),
    (v.check_attribute_mapping, ("attribute_mapping", {"attribute.x": "assertion.arn"}), "attribute_mapping", "google.subject"),
    (v.check_attribute_mapping, ("attribute_mapping", {"google.subject": "a", "Attribute.X": "b"}),
     "attribute_mapping[Attribute.X]", "key must be"),
    (v.check_member, ("members[0]", "alice@example.com"), "members[0]", "must start with"),
    (v.check_member, ("members[0]", "user:alice"), "members[0]", "e-mail"),
    (v.check_member, ("members[0]", "principalSet://example.com/x"), "members[0]", "iam.googleapis.com"),
    (v.check_role, ("role", "aiplatform.user"), "role", "roles/NAME"),
    (v.check_condition, ("condition", {"expression": "true"}), "condition.title", "required"),
    (v.check_service_name, ("services[0]", "iam"), "services[0]", "iam.googleapis.com"),
    (v.check_project, ("My_Project",), "project", "project ID"),
])
def test_rules(func, args, field, rule_part):
    with pytest.raises(v.ValidationError) as info:
        func(*args)
    assert info.value.field == field
    assert rule_part in str(info.value)
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(("func", "args"), [
    (v.check_wif_id, ("pool_id", "aws-pool-1")),
    (v.check_sa_account_id, ("account_id", "litellm-vertex")),
    (v.check_aws_account_id, ("account_id", "012345678901")),
    (v.check_cel, ("c", "attribute.aws_role == 'arn:aws:sts::1:assumed-role/x' && f(\")\" )")),
    (v.check_attribute_mapping, ("m", {"google.subject": "assertion.arn", "attribute.aws_role": "assertion.arn"})),
    (v.check_member, ("m", "serviceAccount:a@p.iam.gserviceaccount.com")),
    (v.check_member, ("m", "allUsers")),
    (v.check_member, ("m", "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*")),
    (v.check_role, ("r", "projects/my-proj/roles/custom.role")),
    (v.check_service_name, ("s", "aiplatform.googleapis.com")),
    (v.check_project, ("my-project",)),
    (v.check_project, ("123456789012",)),
    (v.check_project, ("example.com:my-project",)),
])
def test_valid_values_pass(func, args):
    func(*args)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(v.ValidationError) as info:
        v.check_wif_id("pool_id", "x" * 500)
    assert len(str(info.value)) < 200
