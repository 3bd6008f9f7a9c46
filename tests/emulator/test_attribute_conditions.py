"""Attribute conditions see Google's three variables: assertion, google and attribute.

cel-python resolved `google.subject` as a type in the protobuf package `google` (its well-known
types google.protobuf.*), so no condition on google.* ever held; and a condition naming an
undeclared variable was only found out at token exchange time, where Google refuses it when
the provider is written.
"""

from __future__ import annotations

import json

import google.auth.exceptions
import google.auth.transport.requests
import pytest
from conftest import ACCOUNT, POOL_PATH, PROVIDER, ROLE, SECRET, aws_credentials, wait_op
from googleapiclient.errors import HttpError
from wif_emulator import aws, celeval

pytestmark = pytest.mark.usefixtures("no_aws_env")

REJECTED = "The given credential is rejected by the attribute condition."
ROLE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}"
UNBOUND_ROLE = "wif-unbound-role"  # a second role of ACCOUNT in the test config


def _exchange(emulator, monkeypatch, role: str, session: str) -> str | None:
    """Federate as ``assumed-role/ROLE/SESSION``: None when admitted, else the STS error."""
    creds = aws.mint_credentials(SECRET, ACCOUNT, role, session, 900)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    federated = aws_credentials(emulator.base_url, "http://127.0.0.1:9", sa_email=None)
    try:
        federated.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.OAuthError as exc:
        return str(exc)
    assert federated.token.startswith("ya29.d.")
    return None


@pytest.mark.parametrize(("condition", "admitted", "refused"), [
    ("google.subject.endsWith('/i-0aaa')", (ROLE, "i-0aaa"), (ROLE, "i-0bbb")),
    (f"attribute.aws_role == '{ROLE_ARN}'", (ROLE, "i-0aaa"), (UNBOUND_ROLE, "i-0aaa")),
    (f"assertion.arn.startsWith('{ROLE_ARN}/')", (ROLE, "i-0bbb"), (UNBOUND_ROLE, "i-0bbb")),
    ("assertion.userid.endsWith(':i-0aaa') && assertion.account == '111111111111'",
     (ROLE, "i-0aaa"), (ROLE, "i-0bbb")),
    ("'subject' in google && google.subject == assertion.arn && has(attribute.aws_role)",
     (ROLE, "i-0aaa"), None),
    (f"['other-role', '{ROLE}'].exists(r, attribute.aws_role.endsWith('/' + r))",
     (ROLE, "i-0aaa"), (UNBOUND_ROLE, "i-0aaa")),
])
def test_condition_on_each_variable_admits_and_refuses(emulator, sandbox, monkeypatch, condition,
                                                      admitted, refused):
    sandbox.full_setup(attributeCondition=condition)
    assert _exchange(emulator, monkeypatch, *admitted) is None
    if refused:
        msg = _exchange(emulator, monkeypatch, *refused)
        assert msg is not None and "unauthorized_client" in msg and REJECTED in msg


def test_condition_on_a_google_attribute_that_is_not_mapped_rejects(emulator, sandbox, monkeypatch):
    # The default AWS mapping sets no google.groups: the condition cannot hold.
    sandbox.full_setup(attributeCondition="'admins' in google.groups")
    msg = _exchange(emulator, monkeypatch, ROLE, "i-0aaa")
    assert msg is not None and REJECTED in msg


@pytest.mark.parametrize(("condition", "name"), [
    ("subject.endsWith('/i-0aaa')", "subject"),
    ("assertion.arn == arn", "arn"),
    ("request.time < timestamp('2099-01-01T00:00:00Z')", "request"),
    ("attributes.aws_role == 'x'", "attributes"),
])
def test_condition_naming_an_unknown_variable_is_400_at_create_and_patch(sandbox, condition, name):
    sandbox.create_pool()
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(attributeCondition=condition)
    err = json.loads(info.value.content)["error"]
    assert (err["code"], err["status"]) == (400, "INVALID_ARGUMENT")
    assert err["details"][0]["fieldViolations"][0]["field"] == "attribute_condition"
    assert f"undeclared reference to '{name}'" in err["message"]

    sandbox.create_provider()
    with pytest.raises(HttpError) as info:
        sandbox.providers.patch(name=f"{POOL_PATH}/providers/{PROVIDER}", updateMask="attributeCondition",
                                body={"attributeCondition": condition}).execute()
    assert json.loads(info.value.content)["error"]["status"] == "INVALID_ARGUMENT"
    op = sandbox.providers.patch(name=f"{POOL_PATH}/providers/{PROVIDER}", updateMask="attributeCondition",
                                 body={"attributeCondition": "google.subject != ''"}).execute()
    assert wait_op(sandbox.providers.operations(), op)["response"]["attributeCondition"] == "google.subject != ''"


def test_mapping_may_only_reference_assertion(sandbox):
    sandbox.create_pool()
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(attributeMapping={"google.subject": "assertion.arn",
                                                  "attribute.sub": "google.subject"})
    err = json.loads(info.value.content)["error"]
    assert err["details"][0]["fieldViolations"][0]["field"] == "attribute_mapping"
    assert "undeclared reference to 'google'" in err["message"]


def test_celeval_resolves_google_as_a_variable():
    variables = {"assertion": {"arn": "a"}, "google": {"subject": "arn:x/i-0aaa", "groups": ["g"]},
                 "attribute": {"aws_role": "r"}}
    assert celeval.evaluate("google.subject.endsWith('/i-0aaa')", variables) is True
    assert celeval.evaluate("'g' in google.groups && attribute.aws_role == 'r'", variables) is True
    celeval.check("google.subject == '' || assertion.x.exists(v, v == attribute.y)",
                  celeval.CONDITION_VARIABLES)
    with pytest.raises(celeval.CelError, match="undeclared reference to 'v'"):
        celeval.check("v == 1", celeval.CONDITION_VARIABLES)
