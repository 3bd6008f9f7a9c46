"""The subject token google-auth really builds on an EC2 host verifies (and forgeries do not).

google-auth's aws.Credentials reads the emulated IMDSv2 on loopback exactly as it reads
169.254.169.254 on EC2 (session token PUT, role name, role credentials, availability zone),
signs GetCallerIdentity with its own SigV4 code, and the emulator verifies the result.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote, unquote

import google.auth.aws
import google.auth.transport.requests
import pytest
from google.auth import exceptions as gexc
from wif_emulator.aws import AwsAuthError, verify_google_subject_token
from wif_emulator.imds import MetadataServer

SECRET = "sandbox-credential-secret"
ACCOUNT = "111111111111"
ROLE = "wif-bound-role"
INSTANCE = "i-0123456789abcdef0"
AUDIENCE = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-pool/providers/aws"
VERIFY_URL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch):
    # google-auth prefers AWS_* variables over IMDS; the test must exercise IMDS.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _server(**kwargs) -> MetadataServer:
    options = {"availability_zone": "eu-west-1b", "require_token": True, "ttl_seconds": 3600} | kwargs
    return MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE, options.pop("availability_zone"), host="127.0.0.1", port=0, **options)


@pytest.fixture
def imds():
    server = _server().start()
    yield server
    server.stop()


def _credentials(md: MetadataServer, with_session_token: bool = True) -> google.auth.aws.Credentials:
    source = {
        "environment_id": "aws1",
        "region_url": f"{md.base_url}/latest/meta-data/placement/availability-zone",
        "url": f"{md.base_url}/latest/meta-data/iam/security-credentials",
        "regional_cred_verification_url": VERIFY_URL,
    }
    if with_session_token:
        source["imdsv2_session_token_url"] = f"{md.base_url}/latest/api/token"
    info = {
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        # Never contacted here: only the subject token is built.
        "token_url": "http://127.0.0.1:9/v1/token",
        "credential_source": source,
    }
    return google.auth.aws.Credentials.from_info(info)


def _subject_token(md: MetadataServer) -> str:
    return _credentials(md).retrieve_subject_token(google.auth.transport.requests.Request())


def _decode(token: str) -> dict:
    return json.loads(unquote(token))


def _encode(request: dict) -> str:
    return quote(json.dumps(request, separators=(",", ":"), sort_keys=True))


def _header(request: dict, name: str) -> dict:
    return next(h for h in request["headers"] if h["key"].lower() == name)


def _error(call) -> AwsAuthError:
    with pytest.raises(AwsAuthError) as info:
        call()
    return info.value


def test_google_auth_subject_token_verifies_to_the_instance_session(imds):
    token = _subject_token(imds)
    request = _decode(token)
    # What google-auth built: a signed regional GetCallerIdentity plus the unsigned target header.
    assert request["method"] == "POST"
    assert request["url"] == "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    assert _header(request, "x-goog-cloud-target-resource")["value"] == AUDIENCE
    assert "x-goog-cloud-target-resource" not in _header(request, "authorization")["value"]

    ident = verify_google_subject_token(SECRET, token, AUDIENCE)
    assert ident.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE}"
    assert ident.account_id == ACCOUNT
    assert ident.session_name == INSTANCE
    assert ident.user_id.startswith("AROA") and ident.user_id.endswith(f":{INSTANCE}")


def test_audience_with_https_prefix_matches(imds):
    token = _subject_token(imds)
    assert verify_google_subject_token(SECRET, token, "https:" + AUDIENCE).role_name == ROLE


def test_wrong_audience_is_refused(imds):
    token = _subject_token(imds)
    err = _error(lambda: verify_google_subject_token(SECRET, token, AUDIENCE.replace("providers/aws", "providers/other")))
    assert err.code == "InvalidSubjectToken"
    assert "x-goog-cloud-target-resource" in err.message


def test_missing_target_resource_header_is_refused(imds):
    request = _decode(_subject_token(imds))
    request["headers"] = [h for h in request["headers"] if h["key"] != "x-goog-cloud-target-resource"]
    err = _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE))
    assert err.code == "InvalidSubjectToken"
    assert "missing" in err.message


def test_tampered_signature_is_refused(imds):
    request = _decode(_subject_token(imds))
    auth = _header(request, "authorization")
    auth["value"] = auth["value"][:-1] + ("0" if auth["value"][-1] != "0" else "1")
    assert _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE)).code == "SignatureDoesNotMatch"


def test_credentials_from_another_secret_are_refused(imds):
    token = _subject_token(imds)
    err = _error(lambda: verify_google_subject_token("someone-elses-secret", token, AUDIENCE))
    assert (err.code, err.status) == ("InvalidClientTokenId", 403)


def test_forged_metadata_server_is_refused():
    # An attacker's own IMDS with its own secret produces well-formed but worthless credentials.
    with _server() as honest, MetadataServer("attacker-secret", ACCOUNT, ROLE, INSTANCE, "eu-west-1b") as forged:
        assert verify_google_subject_token(SECRET, _subject_token(honest), AUDIENCE).role_name == ROLE
        assert _error(lambda: verify_google_subject_token(SECRET, _subject_token(forged), AUDIENCE)).code == "InvalidClientTokenId"


def test_missing_security_token_header_is_refused(imds):
    request = _decode(_subject_token(imds))
    request["headers"] = [h for h in request["headers"] if h["key"] != "x-amz-security-token"]
    assert _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE)).code == "InvalidClientTokenId"


def test_expired_instance_credentials_are_refused():
    # The instance's clock is two hours behind: its 15-minute credentials are long expired.
    behind = lambda: dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)  # noqa: E731
    with _server(ttl_seconds=900, clock=behind) as md:
        token = _subject_token(md)
    err = _error(lambda: verify_google_subject_token(SECRET, token, AUDIENCE))
    assert (err.code, err.message) == ("ExpiredToken", "The security token included in the request is expired")


def test_replayed_subject_token_is_refused_after_15_minutes(imds):
    # A captured subject token is only good while its x-amz-date is within AWS's 15-minute window.
    token = _subject_token(imds)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    assert verify_google_subject_token(SECRET, token, AUDIENCE, now=soon).role_name == ROLE
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
    err = _error(lambda: verify_google_subject_token(SECRET, token, AUDIENCE, now=later))
    assert err.code == "SignatureDoesNotMatch"
    assert "Signature expired" in err.message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("method", "GET", "method must be POST"),
        ("url", "https://sts.eu-west-1.amazonaws.com?Action=AssumeRole&Version=2011-06-15", "GetCallerIdentity"),
        ("url", "https://sts.eu-west-1.evil.example?Action=GetCallerIdentity&Version=2011-06-15", "sts."),
        ("url", "http://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "https://"),
        ("url", "https://sts.eu-west-1.amazonaws.com/other?Action=GetCallerIdentity&Version=2011-06-15", "path"),
    ],
)
def test_request_that_is_not_get_caller_identity_is_refused(imds, field, value, words):
    request = _decode(_subject_token(imds))
    request[field] = value
    err = _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE))
    assert err.code == "InvalidSubjectToken"
    assert words in err.message


def test_url_region_must_match_the_signed_region(imds):
    request = _decode(_subject_token(imds))
    request["url"] = request["url"].replace("eu-west-1", "us-east-1")
    # The signed host header still names eu-west-1: the request no longer hangs together.
    assert _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE)).code == "InvalidSubjectToken"
    _header(request, "host")["value"] = "sts.us-east-1.amazonaws.com"
    err = _error(lambda: verify_google_subject_token(SECRET, _encode(request), AUDIENCE))
    assert err.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("token", ["", "not json", quote("[1, 2]"), quote('{"url": 1, "method": "POST", "headers": []}')])
def test_garbage_subject_tokens_are_refused(token):
    err = _error(lambda: verify_google_subject_token(SECRET, token, AUDIENCE))
    assert (err.code, err.status) == ("InvalidSubjectToken", 400)


def test_google_auth_without_session_token_url_is_refused_by_imdsv2(imds):
    # IMDSv1-style reads (no session token) get 401 when the instance requires IMDSv2.
    creds = _credentials(imds, with_session_token=False)
    with pytest.raises(gexc.RefreshError, match="Unable to retrieve AWS"):
        creds.retrieve_subject_token(google.auth.transport.requests.Request())


def test_google_auth_imdsv1_works_when_tokens_are_optional():
    with _server(require_token=False) as md:
        token = _credentials(md, with_session_token=False).retrieve_subject_token(google.auth.transport.requests.Request())
    assert verify_google_subject_token(SECRET, token, AUDIENCE).session_name == INSTANCE
