"""ARN forms: the IAM-role form must always be turned into the assumed-role form Google matches."""

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import names
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import ArnError, aws_role_principal_set, role_identity


@pytest.mark.parametrize(
    ("arn", "kind", "name", "session", "aws_role"),
    [
        (
            "arn:aws:sts::111111111111:assumed-role/litellm-host/i-0123456789abcdef0",
            "assumed-role",
            "litellm-host",
            "i-0123456789abcdef0",
            "arn:aws:sts::111111111111:assumed-role/litellm-host",
        ),
        ("arn:aws:iam::111111111111:role/litellm-host", "role", "litellm-host", None, "arn:aws:sts::111111111111:assumed-role/litellm-host"),
        ("arn:aws:iam::111111111111:role/team/a/litellm-host", "role", "litellm-host", None, "arn:aws:sts::111111111111:assumed-role/litellm-host"),
        ("arn:aws-cn:sts::222222222222:assumed-role/r", "assumed-role", "r", None, "arn:aws-cn:sts::222222222222:assumed-role/r"),
        ("arn:aws:iam::111111111111:user/alice", "user", "alice", None, "arn:aws:iam::111111111111:user/alice"),
    ],
)
def test_role_identity_forms(arn, kind, name, session, aws_role):
    identity = role_identity(arn)
    assert (identity["kind"], identity["name"], identity["session_name"], identity["aws_role"]) == (kind, name, session, aws_role)


@pytest.mark.parametrize(
    ("arn", "fragment"),
    [
        ("arn:aws:iam::11111111111:role/x", "12 digits"),
        ("arn:aws:s3:::bucket", "ACCOUNT_ID"),
        ("arn:aws:ec2:us-east-1:111111111111:instance/i-1", "IAM role ARN"),
        ("arn:aws:sts::111111111111:assumed-role//s", "assumed-role/ROLE"),
        ("arn:aws:iam::111111111111:role/bad name", "invalid role name"),
        ("arn:gcp:iam::111111111111:role/x", "ARN of the form"),
        (None, "must be a string"),
    ],
)
def test_role_identity_rejects_with_field_and_rule(arn, fragment):
    with pytest.raises(ArnError) as caught:
        role_identity(arn, field="aws_role_arns[0]")
    assert "aws_role_arns[0]" in str(caught.value)
    assert fragment in str(caught.value)


def test_principal_set_uses_project_number_and_assumed_role_form():
    member = aws_role_principal_set("123456789012", "aws-hosts", role_identity("arn:aws:iam::111111111111:role/litellm-host")["aws_role"])
    assert member == (
        "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-hosts"
        "/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/litellm-host"
    )


@pytest.mark.parametrize(("email", "ok"), [
    ("litellm-vertex@wif-sandbox.iam.gserviceaccount.com", True),
    ("sa@my-project.example.com.iam.gserviceaccount.com", True),   # domain-scoped project, short account
    ("123456789012-compute@developer.gserviceaccount.com", True),  # Google-managed
    ("bob@example.com", False),
    ("litellm-vertex@wif-sandbox.iam.gserviceaccount.com\n", False),
    ("@wif-sandbox.iam.gserviceaccount.com", False),
    (None, False),
])
def test_service_account_emails(email, ok):
    assert names.is_service_account_email(email) is ok


def test_one_home_for_each_name_shape():
    from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs, validate

    for shape in ("EMAIL_RE", "PROJECT_ID_RE", "PROJECT_NUMBER_RE", "WIF_ID_RE", "SA_ACCOUNT_ID_RE"):
        assert getattr(validate, shape) is getattr(names, shape), shape
    assert not hasattr(validate, "AWS_ACCOUNT_RE")
    assert not hasattr(host_inputs, "SA_EMAIL_RE") and not hasattr(host_inputs, "AUDIENCE_PROJECT_NUMBER_RE")
