"""impersonate_service_account / impersonate_delegates: validation, the generateAccessToken call
google-auth makes for every auth_kind as the source, error messages, and the token-cache key."""

from __future__ import annotations

import json
import time
import urllib.parse

import google.auth.transport.requests
import pytest
from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import (
    DEFAULT_ENDPOINTS,
    BearerSession,
    CachedTokenSession,
    build_session,
    fetch_token,
    identity_key,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpAuthError
from ansible_collections.keyless.wif.plugins.module_utils.gcp.module import check_impersonation
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

IAMCREDENTIALS = "http://127.0.0.1:9/iamcred"
ENDPOINTS = dict(DEFAULT_ENDPOINTS, iamcredentials=IAMCREDENTIALS, sts="http://127.0.0.1:9/sts")
TARGET = "kwif-admin@wif-sandbox.iam.gserviceaccount.com"
HOP_A = "hop-a@wif-sandbox.iam.gserviceaccount.com"
HOP_B = "hop-b@wif-sandbox.iam.gserviceaccount.com"
OAUTH_TOKEN_URI = "http://127.0.0.1:9/oauth2/token"


class _Response:
    def __init__(self, status, body):
        self.status = status
        self.data = json.dumps(body).encode()
        self.headers = {"content-type": "application/json"}


class FakeGoogle:
    """Stands in for google-auth's transport: answers token endpoints and generateAccessToken."""

    def __init__(self):
        self.calls = []
        self.impersonation_answer = None

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        headers = dict(headers or {})
        self.calls.append({"url": url, "method": method, "body": body, "headers": headers})
        if url.endswith(":generateAccessToken"):
            if self.impersonation_answer is not None:
                return _Response(*self.impersonation_answer)
            expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + 3600))
            return _Response(200, {"accessToken": "ya29.impersonated", "expireTime": expire})
        # (google-auth sends ADC user credentials to Google's token endpoint whatever the file says; no network here)
        if url in (OAUTH_TOKEN_URI, "https://oauth2.googleapis.com/token", ENDPOINTS["sts"] + "/v1/token"):
            return _Response(200, {"access_token": "ya29.source", "token_type": "Bearer", "expires_in": 3600,
                                   "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
        raise AssertionError("unexpected request %s %s" % (method, url))

    def generate_calls(self):
        return [c for c in self.calls if c["url"].endswith(":generateAccessToken")]


@pytest.fixture
def fake_google(monkeypatch):
    fake = FakeGoogle()
    monkeypatch.setattr(google.auth.transport.requests, "Request", lambda *a, **k: fake)
    return fake


def _params(**extra):
    params = {"auth_kind": "accesstoken", "access_token": "ya29.source", "scopes": None,
              "impersonate_service_account": TARGET, "impersonate_delegates": None}
    params.update(extra)
    return params


def _rsa_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _source_params(kind, tmp_path, monkeypatch):
    """Params of a source credential of ``kind`` whose token endpoint the fake answers."""
    if kind == "accesstoken":
        return _params()
    if kind == "serviceaccount":
        info = {"type": "service_account", "project_id": "wif-sandbox", "private_key_id": "k1",
                "private_key": _rsa_key(), "client_email": "src@wif-sandbox.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": OAUTH_TOKEN_URI}
        return _params(auth_kind="serviceaccount", access_token=None, service_account_contents=info)
    if kind == "external_account":
        subject = tmp_path / "oidc-token"
        subject.write_text("header.payload.signature")
        info = {"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                "workloadIdentityPools/p/providers/q", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": "https://sts.googleapis.com/v1/token", "credential_source": {"file": str(subject)}}
        path = tmp_path / "external.json"
        path.write_text(json.dumps(info))
        return _params(auth_kind="external_account", access_token=None, external_account_file=str(path))
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                               "refresh_token": "r", "token_uri": OAUTH_TOKEN_URI}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    return _params(auth_kind="application", access_token=None)


# ---- the call: any auth_kind is the source -----------------------------------------------------

@pytest.mark.parametrize("kind", ["accesstoken", "serviceaccount", "external_account", "application"])
def test_every_auth_kind_is_a_source(kind, tmp_path, monkeypatch, fake_google):
    params = _source_params(kind, tmp_path, monkeypatch)
    token, expiry = fetch_token(params, ENDPOINTS)
    assert token == "ya29.impersonated"
    assert expiry == pytest.approx(time.time() + 3600, abs=5)
    (call,) = fake_google.generate_calls()
    assert call["url"] == "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (IAMCREDENTIALS, TARGET)
    assert call["method"] == "POST"
    assert call["headers"]["authorization"] == "Bearer ya29.source"
    body = json.loads(call["body"])
    assert body == {"scope": ["https://www.googleapis.com/auth/cloud-platform"], "delegates": [], "lifetime": "3600s"}


def test_delegates_are_sent_in_order_as_resource_names(fake_google):
    fetch_token(_params(impersonate_delegates=[HOP_A, HOP_B], scopes=["https://www.googleapis.com/auth/iam"]), ENDPOINTS)
    body = json.loads(fake_google.generate_calls()[0]["body"])
    assert body["delegates"] == ["projects/-/serviceAccounts/" + HOP_A, "projects/-/serviceAccounts/" + HOP_B]
    assert body["scope"] == ["https://www.googleapis.com/auth/iam"]


def test_external_account_source_goes_through_the_configured_sts(tmp_path, monkeypatch, fake_google):
    fetch_token(_source_params("external_account", tmp_path, monkeypatch), ENDPOINTS)
    urls = [urllib.parse.urlsplit(c["url"]).path for c in fake_google.calls]
    assert urls == ["/sts/v1/token", "/iamcred/v1/projects/-/serviceAccounts/%s:generateAccessToken" % TARGET]


def test_without_impersonation_nothing_calls_generate_access_token(tmp_path, monkeypatch, fake_google):
    params = dict(_source_params("application", tmp_path, monkeypatch), impersonate_service_account=None)
    assert fetch_token(params, ENDPOINTS)[0] == "ya29.source"
    assert fake_google.generate_calls() == []


# ---- errors name the option ------------------------------------------------------------------

def _error(status, google_status, message):
    return status, {"error": {"code": status, "status": google_status, "message": message}}


def test_403_names_the_option_the_permission_and_the_first_link(fake_google):
    fake_google.impersonation_answer = _error(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' "
                                                                        "denied on resource (or it may not exist).")
    with pytest.raises(GcpAuthError) as caught:
        fetch_token(_params(impersonate_delegates=[HOP_A]), ENDPOINTS)
    text = str(caught.value)
    assert text.startswith("impersonate_service_account: cannot impersonate %s" % TARGET)
    assert "iam.serviceAccounts.getAccessToken" in text and "roles/iam.serviceAccountTokenCreator) on %s" % HOP_A in text
    assert "auth_kind=accesstoken" in text and "HTTP 403" in text and "impersonate_delegates" in text


def test_403_without_delegates_names_the_target(fake_google):
    fake_google.impersonation_answer = _error(403, "PERMISSION_DENIED", "denied")
    with pytest.raises(GcpAuthError, match=r"roles/iam.serviceAccountTokenCreator\) on %s, and" % TARGET):
        fetch_token(_params(), ENDPOINTS)


def test_404_names_the_option(fake_google):
    fake_google.impersonation_answer = _error(404, "NOT_FOUND", "Not found; Gaia id not found for email " + TARGET)
    with pytest.raises(GcpAuthError, match=r"impersonate_service_account: .* was not found .*HTTP 404: Not found; Gaia id"):
        fetch_token(_params(), ENDPOINTS)


def test_400_names_both_options(fake_google):
    fake_google.impersonation_answer = _error(400, "INVALID_ARGUMENT", "Invalid value for field 'delegates[0]'")
    with pytest.raises(GcpAuthError, match=r"check impersonate_service_account and impersonate_delegates.*HTTP 400"):
        fetch_token(_params(impersonate_delegates=[HOP_A]), ENDPOINTS)


# ---- sessions and the cache key --------------------------------------------------------------

def test_an_access_token_source_gets_a_refreshing_session(tmp_path):
    assert isinstance(build_session(_params(impersonate_service_account=None), ENDPOINTS), BearerSession)
    session = build_session(_params(token_cache_dir=str(tmp_path / "tokens")), ENDPOINTS)
    assert isinstance(session, CachedTokenSession) and session._cache is not None


def test_cache_key_covers_target_delegates_and_source():
    base = identity_key(_params(), ENDPOINTS, environ={})
    assert base is not None and len(base) == 64 and "ya29.source" not in base
    assert identity_key(_params(), dict(ENDPOINTS), environ={}) == base
    others = {
        "no impersonation": identity_key(_params(impersonate_service_account=None), ENDPOINTS, environ={}),
        "target": identity_key(_params(impersonate_service_account=HOP_B), ENDPOINTS, environ={}),
        "delegates": identity_key(_params(impersonate_delegates=[HOP_A]), ENDPOINTS, environ={}),
        "delegate order": identity_key(_params(impersonate_delegates=[HOP_B, HOP_A]), ENDPOINTS, environ={}),
        "delegates 2": identity_key(_params(impersonate_delegates=[HOP_A, HOP_B]), ENDPOINTS, environ={}),
        "source": identity_key(_params(access_token="ya29.other"), ENDPOINTS, environ={}),
        "endpoint": identity_key(_params(), dict(ENDPOINTS, iamcredentials="http://127.0.0.1:8"), environ={}),
    }
    assert others.pop("no impersonation") is None  # a bare access token is used as is
    assert len({base, *others.values()}) == len(others) + 1, others


def test_an_impersonating_key_differs_from_the_source_key(tmp_path, monkeypatch):
    params = _source_params("application", tmp_path, monkeypatch)
    plain = identity_key(dict(params, impersonate_service_account=None), ENDPOINTS)
    assert plain is not None and identity_key(params, ENDPOINTS) not in (None, plain)


# ---- validation before any call --------------------------------------------------------------

@pytest.mark.parametrize(("target", "delegates", "field", "rule"), [
    ("kwif-admin", None, "impersonate_service_account", "must be a service-account e-mail"),
    ("alice@example.com", None, "impersonate_service_account", "must be a service-account e-mail"),
    ("serviceAccount:" + TARGET, None, "impersonate_service_account", "must be a service-account e-mail"),
    (None, [HOP_A], "impersonate_delegates", "needs impersonate_service_account"),
    (TARGET, [HOP_A, "projects/-/serviceAccounts/" + HOP_B], "impersonate_delegates[1]", "must be a service-account e-mail"),
    (TARGET, [HOP_A, HOP_A], "impersonate_delegates[1]", "already in the chain"),
    (TARGET, [TARGET], "impersonate_delegates[0]", "already in the chain"),
])
def test_bad_values_are_refused_naming_the_option(target, delegates, field, rule):
    with pytest.raises(ValidationError) as caught:
        check_impersonation(target, delegates)
    assert caught.value.field == field and rule in caught.value.rule


def test_good_values_pass():
    check_impersonation(None, None)
    check_impersonation(TARGET, [HOP_A, HOP_B])
    check_impersonation("svc@appspot.gserviceaccount.com", [])
