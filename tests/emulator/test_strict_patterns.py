"""Validators match the whole value, ASCII only: a trailing newline or a Unicode letter is refused.

Python's ``$`` also matches before a final "\\n" and ``\\w``/``\\d`` accept Unicode, so
``re.match(r"^...$")`` let "aws-pool\\n" and the role name "rôle" through.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from conftest import (
    ACCOUNT,
    ADMIN_TOKEN,
    CLOUD_PLATFORM,
    POOL,
    POOL_PATH,
    PROJECT_ID,
    SA_EMAIL,
    aws_credentials,
    make_config,
)
from google.auth.transport.requests import AuthorizedSession
from googleapiclient.errors import HttpError
from wif_emulator import aws
from wif_emulator.config import ConfigError, load_config
from wif_emulator.imds import MetadataServer

SECRET = "pytest-credential-secret"
PARENT = f"projects/{PROJECT_ID}/locations/global"
SA_RESOURCE = f"projects/-/serviceAccounts/{SA_EMAIL}"


def _error(info: pytest.ExceptionInfo[HttpError]) -> dict:
    assert info.value.resp.status == 400
    err = json.loads(info.value.content)["error"]
    assert err["status"] == "INVALID_ARGUMENT"
    return err


def _field(info: pytest.ExceptionInfo[HttpError]) -> str:
    return _error(info)["details"][0]["fieldViolations"][0]["field"]


def _get(url: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback emulator
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("pool_id", [POOL + "\n", "aws-pööl"])
def test_pool_id_with_trailing_newline_or_unicode_is_400(sandbox, pool_id):
    with pytest.raises(HttpError) as info:
        sandbox.pools.create(parent=PARENT, workloadIdentityPoolId=pool_id, body={}).execute()
    assert _field(info) == "workload_identity_pool_id"
    assert sandbox.pools.list(parent=PARENT, showDeleted=True).execute() == {}


def test_provider_id_with_trailing_newline_is_400(sandbox):
    sandbox.create_pool()
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(provider="aws-provider\n")
    assert _field(info) == "workload_identity_pool_provider_id"


def test_service_account_id_with_trailing_newline_is_400(sandbox):
    with pytest.raises(HttpError) as info:
        sandbox.create_sa("litellm-vertex\n")
    assert _field(info) == "account_id"


@pytest.mark.parametrize("account_id", [ACCOUNT + "\n", "\u0661" * 12])  # Arabic-Indic digits
def test_provider_account_id_with_trailing_newline_or_unicode_digits_is_400(sandbox, account_id):
    sandbox.create_pool()
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(account=account_id)
    assert _field(info) == "aws.account_id"


def test_provider_attribute_name_with_trailing_newline_is_400(sandbox):
    sandbox.create_pool()
    with pytest.raises(HttpError) as info:
        sandbox.create_provider(attributeMapping={"google.subject": "assertion.arn",
                                                  "attribute.aws_role\n": "assertion.arn"})
    assert _field(info) == "attribute_mapping"


def test_iam_role_with_trailing_newline_is_400(sandbox):
    sandbox.create_sa()
    with pytest.raises(HttpError) as info:
        sandbox.add_sa_binding(f"serviceAccount:{SA_EMAIL}", role="roles/viewer\n")
    assert "is not a valid role name" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sandbox.add_project_binding(f"serviceAccount:{SA_EMAIL}", role="roles/viewer\n")
    assert "is not a valid role name" in _error(info)["message"]


@pytest.mark.parametrize("member", [
    f"serviceAccount:{SA_EMAIL}\n",
    f"principalSet://iam.googleapis.com/{POOL_PATH}/*\n",
    f"principal://iam.googleapis.com/{POOL_PATH}/subject/arn:aws:sts::{ACCOUNT}:assumed-role/r/i-0aaa\n",
])
def test_member_with_trailing_newline_is_400(sandbox, member):
    sandbox.create_sa()
    with pytest.raises(HttpError) as info:
        sandbox.add_sa_binding(member)
    assert "Invalid" in _error(info)["message"]
    with pytest.raises(HttpError) as info:
        sandbox.add_project_binding(member)
    assert "Invalid" in _error(info)["message"]


@pytest.mark.usefixtures("no_aws_env")
def test_generate_access_token_lifetime_with_trailing_newline_is_400(emulator, sandbox, metadata):
    sandbox.full_setup()
    federated = aws_credentials(emulator.base_url, metadata.base_url, sa_email=None)
    session = AuthorizedSession(federated)
    url = f"{emulator.base_url}/v1/{SA_RESOURCE}:generateAccessToken"
    for lifetime, status in (("3600s\n", 400), ("\u0663\u0666\u0660\u0660s", 400), ("3600s", 200)):
        resp = session.post(url, json={"scope": [CLOUD_PLATFORM], "lifetime": lifetime}, timeout=10)
        assert resp.status_code == status, (lifetime, resp.text)


@pytest.mark.parametrize(("patch", "words"), [
    ({"aws": {"credential_secret": SECRET, "accounts": [{"id": ACCOUNT + "\n", "roles": ["r"]}]}},
     "aws.accounts[0].id"),
    ({"aws": {"credential_secret": SECRET, "accounts": [{"id": ACCOUNT, "roles": ["rôle"]}]}},
     "aws.accounts[0].roles[0]"),
    ({"aws": {"credential_secret": SECRET, "accounts": [{"id": ACCOUNT, "roles": ["role\n"]}]}},
     "aws.accounts[0].roles[0]"),
    ({"projects": [{"id": PROJECT_ID + "\n", "number": "123456789012"}]}, "projects[0].id"),
    ({"projects": [{"id": PROJECT_ID, "number": "123456789012\n"}]}, "projects[0].number"),
])
def test_config_values_with_trailing_newline_or_unicode_are_refused(patch, words):
    with pytest.raises(ConfigError) as info:
        load_config(make_config(**patch))
    assert words in str(info.value)


@pytest.mark.parametrize(("account", "role", "session", "field"), [
    (ACCOUNT + "\n", "wif-bound-role", "i-0aaa", "account_id"),
    (ACCOUNT, "rôle", "i-0aaa", "role_name"),
    (ACCOUNT, "wif-bound-role\n", "i-0aaa", "role_name"),
    (ACCOUNT, "wif-bound-role", "i-0aaa\n", "session_name"),
    (ACCOUNT, "wif-bound-role", "sessiön", "session_name"),
])
def test_aws_names_follow_the_iam_and_sts_character_sets(account, role, session, field):
    with pytest.raises(ValueError, match=field):
        aws.mint_credentials(SECRET, account, role, session, 900)


def test_aws_role_and_session_accept_exactly_their_documented_characters():
    creds = aws.mint_credentials(SECRET, ACCOUNT, "A-z_0+=,.@9", "s+=,.@_-", 900)
    assert creds["AccessKeyId"].startswith("ASIA")
    aws.mint_credentials(SECRET, ACCOUNT, "r" * 64, "s" * 64, 900)
    for role, session in (("r" * 65, "ss"), ("r", "s"), ("r", "s" * 65), ("r/x", "ss"), ("r", "s:s")):
        with pytest.raises(ValueError):
            aws.mint_credentials(SECRET, ACCOUNT, role, session, 900)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"role_name": "rôle"}, "role_name"),
    ({"instance_id": "i-0123456789abcdef0\n"}, "instance_id"),
    ({"availability_zone": "us-east-1a\n"}, "availability_zone"),
])
def test_imds_refuses_trailing_newline_and_unicode(kwargs, field):
    args = {"account_id": ACCOUNT, "role_name": "wif-bound-role", "instance_id": "i-0123456789abcdef0",
            "availability_zone": "us-east-1a"} | kwargs
    with pytest.raises(ValueError, match=field):
        MetadataServer(SECRET, args["account_id"], args["role_name"], args["instance_id"],
                       args["availability_zone"])


def test_admin_mint_with_unicode_session_name_is_400(emulator):
    body = json.dumps({"account_id": ACCOUNT, "role_name": "wif-bound-role",
                       "session_name": "sessiön"}).encode()
    req = urllib.request.Request(emulator.base_url + "/_emulator/aws/credentials",  # noqa: S310
                                 data=body, method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback emulator
    assert info.value.code == 400


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00"])
def test_route_does_not_match_a_path_with_a_trailing_control_character(emulator, suffix):
    assert _get(emulator.base_url + "/_emulator/healthz") == 200
    assert _get(emulator.base_url + "/_emulator/healthz" + suffix) == 404
    assert _get(emulator.base_url + f"/v1/projects/{PROJECT_ID}") == 200
    # The project segment is [^/:]+, which a newline would otherwise fall into.
    assert _get(emulator.base_url + f"/v1/projects/{PROJECT_ID}{suffix}") == 404
