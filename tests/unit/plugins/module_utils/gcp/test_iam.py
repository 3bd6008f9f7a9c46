"""Additive binding changes and AWS principal building."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.gcp.iam import (
    IamPolicyTarget,
    apply_bindings,
    aws_role_principal,
    binding_view,
    desired_bindings,
    iam_role_form_in_member,
    parse_pool,
    validate_bindings,
)
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

POOL = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool"
COND = {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}


def test_add_member_keeps_others_and_is_idempotent():
    policy = {"etag": "e", "version": 1, "bindings": [
        {"role": "roles/a", "members": ["user:x@y.com"]},
        {"role": "roles/b", "members": ["user:z@y.com"]},
    ]}
    wanted = desired_bindings("roles/a", ["user:me@y.com"])
    new = apply_bindings(policy, wanted)
    assert new["bindings"][0]["members"] == ["user:x@y.com", "user:me@y.com"]
    assert new["bindings"][1] == policy["bindings"][1]
    assert new["etag"] == "e" and new["version"] == 1
    assert policy["bindings"][0]["members"] == ["user:x@y.com"]      # input untouched
    assert apply_bindings(new, wanted) is None


def test_new_role_binding_is_created():
    new = apply_bindings({"etag": "e"}, desired_bindings("roles/a", ["user:me@y.com"]))
    assert new["bindings"] == [{"role": "roles/a", "members": ["user:me@y.com"]}]


def test_remove_member_drops_empty_binding_only():
    policy = {"bindings": [{"role": "roles/a", "members": ["user:me@y.com"]},
                           {"role": "roles/b", "members": ["user:me@y.com", "user:x@y.com"]}]}
    wanted = desired_bindings(bindings=[{"role": "roles/a", "members": ["user:me@y.com"]},
                                        {"role": "roles/b", "members": ["user:me@y.com"]}])
    new = apply_bindings(policy, wanted, present=False)
    assert new["bindings"] == [{"role": "roles/b", "members": ["user:x@y.com"]}]
    assert apply_bindings(new, wanted, present=False) is None


def test_condition_makes_a_separate_binding_and_version_3():
    policy = {"version": 1, "bindings": [{"role": "roles/a", "members": ["user:me@y.com"]}]}
    wanted = desired_bindings("roles/a", ["user:me@y.com"], COND)
    new = apply_bindings(policy, wanted)
    assert new["version"] == 3
    assert new["bindings"][1] == {"role": "roles/a", "members": ["user:me@y.com"], "condition": COND}
    # The same condition with an empty description is the same binding.
    assert apply_bindings(new, desired_bindings("roles/a", ["user:me@y.com"], dict(COND, description=""))) is None
    assert binding_view(new, wanted) == {"roles/a if t": ["user:me@y.com"]}


def test_validate_bindings_names_fields():
    with pytest.raises(ValidationError) as info:
        validate_bindings(desired_bindings(bindings=[{"role": "roles/a", "members": ["user:a@b.com"]},
                                                     {"role": "roles/b", "members": ["alice"]}]), nested=True)
    assert info.value.field == "bindings[1].members[0]"
    with pytest.raises(ValidationError) as info:
        validate_bindings(desired_bindings("aiplatform.user", ["user:a@b.com"]), nested=False)
    assert info.value.field == "role"


@pytest.mark.parametrize(("arn", "converted", "note_part"), [
    ("arn:aws:iam::111111111111:role/litellm", True, "converted arn:aws:iam::111111111111:role/litellm"),
    ("arn:aws:iam::111111111111:role/team/x/litellm", True, "converted"),
    ("arn:aws:sts::111111111111:assumed-role/litellm", False, None),
    ("arn:aws:sts::111111111111:assumed-role/litellm/i-0123456789abcdef0", True, "dropped session name"),
])
def test_aws_role_principal(arn, converted, note_part):
    member, note = aws_role_principal("aws_role_arns[0]", arn, "123456789012", "aws-pool")
    assert member == POOL + "/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/litellm"
    assert (note is not None) == converted
    if note_part:
        assert note_part in note and note.startswith("aws_role_arns[0]")


@pytest.mark.parametrize("arn", ["arn:aws:iam::11111111111:role/x", "arn:aws:iam::111111111111:user/bob",
                                 "arn:aws:s3:::bucket", "role/x", "arn:aws:iam:us-east-1:111111111111:role/x",
                                 "arn:aws:sts::111111111111:assumed-role/"])
def test_bad_role_arns(arn):
    with pytest.raises(ValidationError) as info:
        aws_role_principal("aws_role_arns[2]", arn, "1", "pool")
    assert info.value.field == "aws_role_arns[2]"


def test_parse_pool_forms():
    assert parse_pool("pool", "aws-pool") == (None, "aws-pool")
    assert parse_pool("pool", "projects/123/locations/global/workloadIdentityPools/aws-pool") == ("123", "aws-pool")
    assert parse_pool("pool", "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/aws-pool") == (
        "123", "aws-pool")
    for bad in ("projects/my-proj/locations/global/workloadIdentityPools/aws-pool", "AWS", "gcp-pool",
                "projects/1/locations/eu/workloadIdentityPools/aws-pool"):
        with pytest.raises(ValidationError):
            parse_pool("pool", bad)


def test_iam_role_form_detection():
    assert iam_role_form_in_member(POOL + "/attribute.aws_role/arn:aws:iam::111111111111:role/x")
    assert not iam_role_form_in_member(POOL + "/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/x")


# ---- IamPolicyTarget ----------------------------------------------------------------------

def _client(answers):
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import GcpClient
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RetryPolicy
    from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import FakeClock, ScriptedSession

    clock = FakeClock()
    session = ScriptedSession(answers)
    policy = RetryPolicy(retries=0, clock=clock.clock, sleep=clock.sleep, rand=lambda: 0.5)
    return GcpClient(session, {"iam": "http://emu", "cloudresourcemanager": "http://emu"}, policy), session


def test_policy_target_paths_and_where_the_version_goes():
    from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import FakeResponse

    client, session = _client([FakeResponse(200, {"etag": "e"}), FakeResponse(200, {"etag": "e"})])
    IamPolicyTarget("cloudresourcemanager", "projects/p").read(client)
    IamPolicyTarget("iam", "projects/p/serviceAccounts/a@p.iam.gserviceaccount.com", version_in_query=True).read(client)
    crm, iam = session.calls
    assert (crm["url"], crm["params"], crm["json"]) == (
        "http://emu/v1/projects/p:getIamPolicy", None, {"options": {"requestedPolicyVersion": 3}})
    assert (iam["url"], iam["params"], iam["json"]) == (
        "http://emu/v1/projects/p/serviceAccounts/a@p.iam.gserviceaccount.com:getIamPolicy",
        {"options.requestedPolicyVersion": 3}, None)


def test_policy_target_404_is_empty_or_an_error_as_asked():
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError
    from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import google_error

    client, _session = _client([google_error(404, "NOT_FOUND", "gone")])
    assert IamPolicyTarget("iam", "projects/p/serviceAccounts/x", missing="empty").read(client) == {}
    client, _session = _client([google_error(404, "NOT_FOUND", "gone")])
    with pytest.raises(GcpError):
        IamPolicyTarget("cloudresourcemanager", "projects/p").read(client)


def test_policy_target_write_sends_the_policy_without_retrying_aborted():
    from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import FakeResponse

    client, session = _client([FakeResponse(200, {"etag": "new"})])
    assert IamPolicyTarget("cloudresourcemanager", "projects/p").write(client, {"bindings": []}) == {"etag": "new"}
    assert session.calls[0]["url"] == "http://emu/v1/projects/p:setIamPolicy"
    assert session.calls[0]["json"] == {"policy": {"bindings": []}}
