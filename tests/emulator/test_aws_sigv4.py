"""Emulator AWS credentials and SigV4 verification, driven by botocore's own signer."""

from __future__ import annotations

import base64
import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from wif_emulator.aws import AwsAuthError, mint_credentials, verify_signed_request

SECRET = "sandbox-credential-secret"
ACCOUNT = "111111111111"
ROLE = "wif-bound-role"
SESSION = "i-0123456789abcdef0"
FORM = b"Action=GetCallerIdentity&Version=2011-06-15"


def _creds(secret: str = SECRET, ttl: int = 3600, now: dt.datetime | None = None, role: str = ROLE) -> dict[str, str]:
    return mint_credentials(secret, ACCOUNT, role, SESSION, ttl, now=now)


def _sign(creds: dict[str, str], url: str = "https://sts.us-east-1.amazonaws.com/", *, region: str = "us-east-1",
          service: str = "sts", method: str = "POST", body: bytes = FORM,
          secret_access_key: str | None = None) -> tuple[str, dict[str, str], bytes]:
    """Sign like boto3 does; returns (url, headers as they go on the wire, body)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"} if body else {}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    aws_creds = Credentials(creds["AccessKeyId"], secret_access_key or creds["SecretAccessKey"], creds["Token"])
    SigV4Auth(aws_creds, service, region).add_auth(request)
    wire = dict(request.headers.items())
    # botocore leaves Host to the HTTP client, which sends the URL's netloc.
    wire["Host"] = urlsplit(url).netloc
    return request.url, wire, request.body or b""


def _error(call) -> AwsAuthError:
    with pytest.raises(AwsAuthError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------- minting


def test_minted_credentials_look_like_aws_instance_credentials():
    creds = _creds()
    assert creds["Code"] == "Success"
    assert creds["Type"] == "AWS-HMAC"
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", creds["SecretAccessKey"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["Expiration"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["LastUpdated"])
    issued = dt.datetime.strptime(creds["LastUpdated"], "%Y-%m-%dT%H:%M:%SZ")
    expires = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires - issued == dt.timedelta(seconds=3600)


def test_every_minting_yields_new_keys():
    first, second = _creds(), _creds()
    assert first["AccessKeyId"] != second["AccessKeyId"]
    assert first["SecretAccessKey"] != second["SecretAccessKey"]
    assert first["Token"] != second["Token"]


def test_expiration_follows_now_and_ttl():
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    creds = _creds(ttl=900, now=now)
    assert creds["LastUpdated"] == "2030-01-02T03:04:05Z"
    assert creds["Expiration"] == "2030-01-02T03:19:05Z"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", ACCOUNT, ROLE, SESSION, 3600), "aws.credential_secret"),
        ((SECRET, "12345", ROLE, SESSION, 3600), "account_id"),
        ((SECRET, ACCOUNT, "bad role/name", SESSION, 3600), "role_name"),
        ((SECRET, ACCOUNT, ROLE, "x", 3600), "session_name"),
        ((SECRET, ACCOUNT, ROLE, SESSION, 0), "ttl_seconds"),
        ((SECRET, ACCOUNT, ROLE, SESSION, 43201), "ttl_seconds"),
    ],
)
def test_mint_rejects_bad_input_naming_the_field(args, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        mint_credentials(*args)


# --------------------------------------------------------------------------- botocore-signed requests


def test_botocore_signed_post_verifies_to_the_assumed_role():
    creds = _creds()
    url, headers, body = _sign(creds)
    ident = verify_signed_request(SECRET, "POST", url, headers, body)
    assert ident.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{SESSION}"
    assert ident.account_id == ACCOUNT
    assert ident.role_name == ROLE
    assert ident.session_name == SESSION
    assert re.fullmatch(rf"AROA[A-Z2-7]{{16}}:{SESSION}", ident.user_id)
    assert ident.expiration.strftime("%Y-%m-%dT%H:%M:%SZ") == creds["Expiration"]


def test_role_unique_id_is_stable_per_role_and_differs_between_roles():
    a1 = verify_signed_request(SECRET, "POST", *_sign(_creds()))
    a2 = verify_signed_request(SECRET, "POST", *_sign(_creds()))
    b = verify_signed_request(SECRET, "POST", *_sign(_creds(role="wif-unbound-role")))
    assert a1.user_id == a2.user_id
    assert a1.user_id.split(":")[0] != b.user_id.split(":")[0]


def test_botocore_signed_get_with_query_string_verifies():
    creds = _creds()
    url, headers, body = _sign(creds, url="https://sts.eu-west-1.amazonaws.com/?Version=2011-06-15&Action=GetCallerIdentity",
                               region="eu-west-1", method="GET", body=b"")
    assert verify_signed_request(SECRET, "GET", url, headers, body).role_name == ROLE
    # The server may hand over only the request target; the Host header still names the endpoint.
    target = urlsplit(url)
    assert verify_signed_request(SECRET, "GET", f"{target.path}?{target.query}", headers, body).role_name == ROLE


def test_emulator_host_with_port_verifies_in_any_region():
    url, headers, body = _sign(_creds(), url="http://127.0.0.1:8470/", region="ap-south-1")
    assert verify_signed_request(SECRET, "POST", url, headers, body).account_id == ACCOUNT


def test_global_endpoint_signs_as_us_east_1():
    url, headers, body = _sign(_creds(), url="https://sts.amazonaws.com/")
    assert verify_signed_request(SECRET, "POST", url, headers, body).account_id == ACCOUNT
    url, headers, body = _sign(_creds(), url="https://sts.amazonaws.com/", region="eu-west-1")
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert err.code == "SignatureDoesNotMatch"
    assert "valid region" in err.message


def test_headers_as_pairs_with_mixed_case_verify():
    url, headers, body = _sign(_creds())
    pairs = [(name.upper(), value) for name, value in headers.items()]
    assert verify_signed_request(SECRET, "POST", url, pairs, body).role_name == ROLE


# --------------------------------------------------------------------------- refusals


def test_tampered_signature_is_refused():
    url, headers, body = _sign(_creds())
    sig = headers["Authorization"][-64:]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    headers["Authorization"] = headers["Authorization"][:-64] + flipped
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)


def test_tampered_body_is_refused():
    url, headers, _ = _sign(_creds())
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, b"Action=AssumeRole&Version=2011-06-15"))
    assert err.code == "SignatureDoesNotMatch"


def test_tampered_signed_header_is_refused():
    url, headers, body = _sign(_creds())
    headers["Content-Type"] = "text/plain"
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "SignatureDoesNotMatch"


def test_wrong_secret_access_key_is_refused():
    creds = _creds()
    other = _creds()
    url, headers, body = _sign(creds, secret_access_key=other["SecretAccessKey"])
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "SignatureDoesNotMatch"


def test_credentials_minted_with_another_secret_are_refused():
    url, headers, body = _sign(_creds(secret="not-the-emulator-secret"))
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert (err.code, err.status) == ("InvalidClientTokenId", 403)
    assert err.message == "The security token included in the request is invalid."


def test_token_of_one_session_with_keys_of_another_is_refused():
    mine, theirs = _creds(), _creds(role="wif-unbound-role")
    spliced = {**theirs, "Token": mine["Token"]}
    url, headers, body = _sign(spliced)
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "InvalidClientTokenId"


def test_edited_token_claims_are_refused():
    creds = _creds()
    raw = base64.b64decode(creds["Token"])
    forged_token = base64.b64encode(raw.replace(ROLE.encode(), b"wif-admin-role")).decode()
    url, headers, body = _sign({**creds, "Token": forged_token})
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "InvalidClientTokenId"


def test_missing_security_token_is_refused():
    url, headers, body = _sign(_creds())
    del headers["X-Amz-Security-Token"]
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "InvalidClientTokenId"


def test_expired_credentials_are_refused():
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    url, headers, body = _sign(_creds(ttl=900, now=past))
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert (err.code, err.status) == ("ExpiredToken", 403)
    assert err.message == "The security token included in the request is expired"


def test_credentials_expire_exactly_at_expiration():
    creds = _creds(ttl=900)
    url, headers, body = _sign(creds)
    expiry = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    signed_at = dt.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert expiry - signed_at <= dt.timedelta(minutes=15)  # so skew cannot explain the outcome below
    assert verify_signed_request(SECRET, "POST", url, headers, body, now=expiry - dt.timedelta(seconds=1)).role_name == ROLE
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body, now=expiry)).code == "ExpiredToken"


@pytest.mark.parametrize(("offset", "words"), [(20, "Signature expired"), (-20, "Signature not yet current")])
def test_request_dated_more_than_15_minutes_off_is_refused(offset, words):
    url, headers, body = _sign(_creds(ttl=7200))
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=offset)
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body, now=now))
    assert err.code == "SignatureDoesNotMatch"
    assert words in err.message
    # 14 minutes off is still inside the window.
    ok = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14 if offset > 0 else -14)
    assert verify_signed_request(SECRET, "POST", url, headers, body, now=ok).role_name == ROLE


def test_missing_authorization_is_refused():
    url, headers, body = _sign(_creds())
    del headers["Authorization"]
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert (err.code, err.status) == ("MissingAuthenticationToken", 403)


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=ASIAAAAAAAAAAAAAAAAA/20300101/us-east-1/sts/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=ASIAAAAAAAAAAAAAAAAA/us-east-1/sts, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS AKIDEXAMPLE:signature",
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(authorization):
    url, headers, body = _sign(_creds())
    headers["Authorization"] = authorization
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "IncompleteSignature"


def test_missing_x_amz_date_is_an_incomplete_signature():
    url, headers, body = _sign(_creds())
    del headers["X-Amz-Date"]
    assert _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body)).code == "IncompleteSignature"


def test_request_signed_for_another_service_is_refused():
    url, headers, body = _sign(_creds(), service="iam")
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert err.code == "SignatureDoesNotMatch"
    assert "'sts'" in err.message


def test_regional_host_signed_for_another_region_is_refused():
    url, headers, body = _sign(_creds(), url="https://sts.us-east-1.amazonaws.com/", region="eu-west-1")
    err = _error(lambda: verify_signed_request(SECRET, "POST", url, headers, body))
    assert err.code == "SignatureDoesNotMatch"
    assert "eu-west-1" in err.message


def test_verification_needs_the_emulator_secret():
    url, headers, body = _sign(_creds())
    assert _error(lambda: verify_signed_request("another-secret", "POST", url, headers, body)).code == "InvalidClientTokenId"
