"""STS AssumeRoleWithWebIdentity (EKS IRSA) through boto3's own web-identity provider, and the admin token endpoints."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import boto3
import botocore.exceptions
import pytest
import requests
from conftest import ACCOUNT, OTHER_ACCOUNT, ROLE, SECRET, make_config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from wif_emulator.aws import web_identity
from wif_emulator.server import EmulatorServer

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
OTHER_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/99999999999999999999999999999999"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
NS = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}


def parse(text):
    return ET.fromstring(text)  # noqa: S314 - trusted: the XML under test comes from the in-process emulator


@pytest.fixture(scope="module")
def emu():
    cfg = make_config()
    cfg["aws"]["oidc_providers"] = [
        {"issuer": ISSUER, "account_id": ACCOUNT, "audiences": ["sts.amazonaws.com"]},
        {"issuer": OTHER_ISSUER, "account_id": OTHER_ACCOUNT, "subjects": ["system:serviceaccount:prod:*"]},
    ]
    srv = EmulatorServer(cfg).start()
    try:
        yield srv
    finally:
        srv.stop()


def token(emu, kind="web-identity", **body):
    body.setdefault("account_id", ACCOUNT)
    answer = requests.post(f"{emu.base_url}/_emulator/aws/{kind}-token", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def boto3_session(emu, monkeypatch, tmp_path, jwt, role_arn=ROLE_ARN):
    """A boto3 session whose only credential source is IRSA's: the token file and the role, STS at the emulator."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(key, raising=False)
    path = tmp_path / "token"
    path.write_text(jwt)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(path))
    monkeypatch.setenv("AWS_ROLE_ARN", role_arn)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emu.base_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return boto3.Session(region_name="us-east-1")


def test_the_token_is_a_real_rs256_jwt_of_the_issuer(emu):
    answer = token(emu)
    assert answer["issuer"] == ISSUER and answer["audience"] == "sts.amazonaws.com"
    head, body, sig = answer["token"].split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    assert header["alg"] == "RS256" and claims["iss"] == ISSUER and claims["aud"] == ["sts.amazonaws.com"]
    assert claims["sub"] == "system:serviceaccount:default:litellm" and claims["exp"] - claims["iat"] == 86400
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "litellm"
    key = web_identity.trusted_key(SECRET)
    assert header["kid"] == key.kid
    # An independent RSA implementation verifies the signature.
    rsa.RSAPublicNumbers(key.e, key.n).public_key().verify(base64.urlsafe_b64decode(sig + "=="), f"{head}.{body}".encode(),
                                                           padding.PKCS1v15(), hashes.SHA256())
    pod = token(emu, "pod-identity")
    assert pod["audience"] == "pods.eks.amazonaws.com"


@pytest.mark.parametrize("body", [{"account_id": "333333333333"}, {"issuer": "https://elsewhere.example"}, {"ttl_seconds": "1"},
                                  {"foreign": "yes"}, {"colour": "red"}])
def test_admin_token_endpoint_refuses_bad_requests(emu, body):
    body = dict({"account_id": ACCOUNT}, **body)
    assert requests.post(f"{emu.base_url}/_emulator/aws/web-identity-token", json=body, timeout=30).status_code == 400


def test_irsa_with_boto3_gives_the_assumed_role_that_get_caller_identity_knows(emu, monkeypatch, tmp_path):
    session = boto3_session(emu, monkeypatch, tmp_path, token(emu)["token"])
    creds = session.get_credentials()
    assert creds.method == "assume-role-with-web-identity"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.token
    identity = session.client("sts", endpoint_url=emu.base_url).get_caller_identity()
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/botocore-session-")


def test_the_xml_answer_is_shaped_like_aws(emu):
    jwt = token(emu, subject="system:serviceaccount:prod:api")["token"]
    answer = requests.post(emu.base_url + "/", data={"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN,
                                                     "RoleSessionName": "my-session", "WebIdentityToken": jwt, "DurationSeconds": "900"},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    result = parse(answer.text).find("s:AssumeRoleWithWebIdentityResult", NS)
    assert result.findtext("s:SubjectFromWebIdentityToken", namespaces=NS) == "system:serviceaccount:prod:api"
    assert result.findtext("s:Audience", namespaces=NS) == "sts.amazonaws.com"
    assert result.findtext("s:Provider", namespaces=NS) == ISSUER
    assert result.findtext("s:AssumedRoleUser/s:Arn", namespaces=NS) == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/my-session"
    assert result.findtext("s:AssumedRoleUser/s:AssumedRoleId", namespaces=NS).startswith("AROA")
    for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"):
        assert result.findtext(f"s:Credentials/s:{name}", namespaces=NS)


@pytest.mark.parametrize("options, role_arn, error, code, message", [
    ({"ttl_seconds": 0}, ROLE_ARN, "ExpiredTokenException", "ExpiredTokenException", "Token expired: current date/time "),
    ({"foreign": True}, ROLE_ARN, "InvalidIdentityTokenException", "InvalidIdentityToken", "Couldn't retrieve verification key"),
    ({"audience": "pods.eks.amazonaws.com"}, ROLE_ARN, "InvalidIdentityTokenException", "InvalidIdentityToken", "Incorrect token audience"),
    # The issuer is registered in another account than the role's.
    ({"account_id": OTHER_ACCOUNT}, ROLE_ARN, "InvalidIdentityTokenException", "InvalidIdentityToken",
     f"No OpenIDConnect provider found in your account for {OTHER_ISSUER}"),
    ({}, f"arn:aws:iam::{ACCOUNT}:role/not-configured", "ClientError", "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
    # The provider's trust admits only system:serviceaccount:prod:*.
    ({"account_id": OTHER_ACCOUNT}, f"arn:aws:iam::{OTHER_ACCOUNT}:role/{ROLE}", "ClientError", "AccessDenied", "Not authorized"),
])
def test_every_refusal_is_aws_s(emu, monkeypatch, tmp_path, options, role_arn, error, code, message):
    session = boto3_session(emu, monkeypatch, tmp_path, token(emu, **options)["token"], role_arn)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        session.get_credentials().get_frozen_credentials()
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["Error"]["Message"].startswith(message)
    assert type(caught.value).__name__ == error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == (403 if code == "AccessDenied" else 400)


def test_the_trusted_subject_of_the_other_account_works(emu, monkeypatch, tmp_path):
    jwt = token(emu, account_id=OTHER_ACCOUNT, subject="system:serviceaccount:prod:api")["token"]
    session = boto3_session(emu, monkeypatch, tmp_path, jwt, f"arn:aws:iam::{OTHER_ACCOUNT}:role/{ROLE}")
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIA")


@pytest.mark.parametrize("params, code", [
    ({"RoleArn": None}, "ValidationError"),
    ({"RoleSessionName": "x"}, "ValidationError"),
    ({"RoleArn": "arn:aws:iam::1:role/r"}, "ValidationError"),
    ({"DurationSeconds": "7200"}, "ValidationError"),
    ({"WebIdentityToken": "not-a-jwt"}, "InvalidIdentityToken"),
])
def test_bad_parameters(emu, params, code):
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN, "RoleSessionName": "s1",
            "WebIdentityToken": token(emu)["token"]}
    form.update(params)
    form = {k: v for k, v in form.items() if v is not None}
    answer = requests.post(emu.base_url + "/", data=form, timeout=30)
    assert answer.status_code == 400
    assert parse(answer.text).findtext("s:Error/s:Code", namespaces=NS) == code


def test_a_tampered_token_fails_the_signature(emu):
    head, body, sig = token(emu)["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    answer = requests.post(emu.base_url + "/", data={"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN,
                                                     "RoleSessionName": "s1", "WebIdentityToken": f"{head}.{forged}.{sig}"}, timeout=30)
    assert answer.status_code == 400 and "InvalidIdentityToken" in answer.text


def test_get_caller_identity_still_needs_a_signature(emu):
    answer = requests.post(emu.base_url + "/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, timeout=30)
    assert answer.status_code == 403 and "MissingAuthenticationToken" in answer.text
