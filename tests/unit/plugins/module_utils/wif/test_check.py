"""Unit tests of the credential check's parts: the recording transport, the classifier, the
diagnosis table (and the README generated from it), the service environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import systemd
from ansible_collections.keyless.wif.plugins.module_utils.wif.check import run_check
from ansible_collections.keyless.wif.plugins.module_utils.wif.classify import classify
from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import DIAGNOSES, propagation_verdict, render, troubleshooting_rows
from ansible_collections.keyless.wif.plugins.module_utils.wif.transport import (
    Recorder,
    RecordingRequest,
    exception_text,
    google_error,
    hop_namer,
    public_url,
)

REPO = Path(__file__).resolve().parents[5]
MD = "http://127.0.0.1:9"
INFO = {
    "type": "external_account",
    "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws/providers/p",
    "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
    "token_url": "https://sts.googleapis.com/v1/token",
    "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@proj-1.iam.gserviceaccount.com"
                                         ":generateAccessToken",
    "credential_source": {"environment_id": "aws1", "region_url": MD + "/latest/meta-data/placement/availability-zone",
                          "url": MD + "/latest/meta-data/iam/security-credentials", "imdsv2_session_token_url": MD + "/latest/api/token",
                          "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"},
}
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET"


class FakeResponse:
    def __init__(self, status, data):
        self.status = status
        self.data = data.encode() if isinstance(data, str) else json.dumps(data).encode()
        self.headers = {}


class FakeInner:
    """Answers like the endpoints would, by URL; what it was asked is kept to check the timeouts."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        self.calls.append((method, url, timeout))
        answer = self.answers[public_url(url).rsplit("/", 1)[-1]]
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(*answer)


OK_ANSWERS = {
    "token": (200, "imds-session-token"),
    "availability-zone": (200, "us-east-1a"),
    "security-credentials": (200, "wif-bound-role"),
    "wif-bound-role": (200, {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": SECRET, "Token": "session-" + SECRET, "Code": "Success"}),
    "v1": (200, {}),
}


def fake_session_check(monkeypatch, answers, sts, impersonation):
    """run_check with google.auth.transport.requests.Request replaced by the fake endpoints."""
    import google.auth.transport.requests as google_requests

    inner = FakeInner(dict(answers))
    token_answers = {"token": sts, "sa@proj-1.iam.gserviceaccount.com:generateAccessToken": impersonation}

    def route(url, method="GET", **kw):
        key = public_url(url).rsplit("/", 1)[-1]
        if "googleapis.com" in url:
            inner.answers[key] = token_answers[key]
        return inner(url, method=method, **kw)

    monkeypatch.setattr(google_requests, "Request", lambda session: route)
    monkeypatch.delenv("AWS_REGION", raising=False)
    result = run_check(INFO, timeout=7, metadata_timeout=1.5)
    return result, inner


def test_a_working_chain_returns_no_secret_and_short_metadata_timeouts(monkeypatch):
    result, inner = fake_session_check(monkeypatch, OK_ANSWERS, (200, {"access_token": "fed-" + SECRET, "expires_in": 3599,
                                                                       "token_type": "Bearer"}),
                                       (200, {"accessToken": "ya29." + SECRET, "expireTime": "2030-01-01T00:00:00Z"}))
    assert result["ok"], result
    assert [h["name"] for h in result["hops"]] == ["imds_token", "region", "imds_token", "role_name", "aws_credentials", "sts_exchange",
                                                   "impersonation"]
    assert result["access_token_expiry"] == "2030-01-01T00:00:00Z"
    assert result["federated_token_expires_in"] == 3599
    assert result["caller"]["role_name"] == "wif-bound-role" and result["caller"]["region"] == "us-east-1"
    assert SECRET not in json.dumps(result) and "imds-session-token" not in json.dumps(result)
    timeouts = {(method, url.rsplit("/", 1)[-1]): timeout for method, url, timeout in inner.calls}
    assert timeouts[("PUT", "token")] == 1.5 and timeouts[("POST", "token")] == 7


def test_a_403_with_service_disabled_reason_is_the_api_not_the_binding(monkeypatch):
    body = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "IAM Service Account Credentials API has not been used",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}]}}
    result, _inner = fake_session_check(monkeypatch, OK_ANSWERS, (200, {"access_token": "fed", "expires_in": 3599}), (403, body))
    assert result["diagnosis"]["code"] == "iamcredentials_api_disabled"
    assert result["failed_hop"] == "impersonation"
    assert result["hops"][-1]["google_error"] == {"status": "PERMISSION_DENIED", "message": body["error"]["message"], "reason": "SERVICE_DISABLED"}
    assert "--project=proj-1" in result["diagnosis"]["fix"]


def test_an_impersonation_answer_google_auth_cannot_parse_never_leaks_the_token(monkeypatch):
    result, _inner = fake_session_check(monkeypatch, OK_ANSWERS, (200, {"access_token": "fed", "expires_in": 3599}),
                                        (200, {"accessToken": "ya29." + SECRET, "expireTime": "2030-01-01T00:00:00.123Z"}))
    assert result["diagnosis"]["code"] == "impersonation_bad_answer"
    assert SECRET not in json.dumps(result)


@pytest.mark.parametrize("hop, code", [
    ({"name": "imds_token", "ok": False, "method": "PUT", "url": MD, "failure": "timeout", "error": "ReadTimeout"}, "metadata_no_answer"),
    ({"name": "imds_token", "ok": False, "method": "PUT", "url": MD, "failure": "refused", "error": "x"}, "metadata_unreachable"),
    ({"name": "imds_token", "ok": False, "method": "PUT", "url": MD, "status": 403}, "metadata_token_refused"),
    ({"name": "role_name", "ok": False, "method": "GET", "url": MD, "status": 404}, "no_instance_role"),
    ({"name": "aws_credentials", "ok": False, "method": "GET", "url": MD, "status": 500}, "metadata_credentials_error"),
    ({"name": "region", "ok": False, "method": "GET", "url": MD, "status": 401}, "region_unavailable"),
    ({"name": "region", "ok": False, "source": "region_url", "error": "RefreshError"}, "region_unavailable"),
    ({"name": "sts_exchange", "ok": False, "method": "POST", "url": "u", "failure": "proxy", "error": "ProxyError"}, "proxy_failed"),
    ({"name": "sts_exchange", "ok": False, "method": "POST", "url": "u", "failure": "timeout", "error": "x"}, "sts_exchange_unreachable"),
    ({"name": "sts_exchange", "ok": False, "status": 400, "method": "POST",
      "google_error": {"status": "invalid_grant", "message": "The AWS account 2 of the credential does not match the account 1 configured "
                                                             "on the provider."}}, "aws_account_mismatch"),
    ({"name": "sts_exchange", "ok": False, "status": 400, "method": "POST",
      "google_error": {"status": "invalid_grant", "message": "Received invalid AWS response of type ExpiredToken"}}, "aws_credentials_rejected"),
    ({"name": "sts_exchange", "ok": False, "status": 400, "method": "POST",
      "google_error": {"status": "unauthorized_client", "message": "The given credential is rejected by the attribute condition."}},
     "attribute_condition"),
    ({"name": "sts_exchange", "ok": False, "status": 400, "method": "POST", "google_error": {"status": "invalid_target", "message": "m"}},
     "invalid_target"),
    ({"name": "impersonation", "ok": False, "status": 403, "method": "POST", "google_error": {"message": "Permission denied"}}, "binding_missing"),
    ({"name": "impersonation", "ok": False, "status": 404, "method": "POST", "google_error": {"message": "Gaia id not found"}},
     "service_account_not_found"),
    ({"name": "impersonation", "ok": False, "status": 400, "method": "POST", "google_error": {"status": "FAILED_PRECONDITION"}},
     "service_account_disabled"),
])
def test_classify(hop, code):
    assert classify([hop], "ec2", "us-east-1") == (code, hop["name"])


def test_explicit_mode_credential_failures_are_the_resolvers():
    assert classify([{"name": "region", "ok": True, "source": "aws_region_name"},
                     {"name": "aws_credentials", "ok": False, "source": "boto3 session", "error": "LookupError"}], "explicit", "us-east-1") == (
        "explicit_aws_credentials_failed", "aws_credentials")


_IRSA = "%s: An error occurred (%s) when calling the AssumeRoleWithWebIdentity operation: %s"
_CONTAINER = ("CredentialRetrievalError: Error when retrieving credentials from container-role: Error retrieving metadata: "
              "Received non 200 response %s from container metadata: %s")


@pytest.mark.parametrize("error, code", [
    (_IRSA % ("ExpiredTokenException", "ExpiredTokenException", "Token expired: current date/time 2 must be before the expiration date/time 1"),
     "web_identity_token_expired"),
    (_IRSA % ("InvalidIdentityTokenException", "InvalidIdentityToken", "Incorrect token audience"), "web_identity_audience"),
    (_IRSA % ("InvalidIdentityTokenException", "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://x"),
     "web_identity_provider_missing"),
    (_IRSA % ("InvalidIdentityTokenException", "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"),
     "web_identity_token_rejected"),
    (_IRSA % ("ClientError", "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"), "web_identity_role_denied"),
    (_CONTAINER % (400, "Service account token cannot be empty"), "container_credentials_token_missing"),
    (_CONTAINER % (400, "Service account token failed basic claim validations: token has invalid claims: token is expired"),
     "container_credentials_token_expired"),
    (_CONTAINER % (400, "[r]: (ExpiredTokenException): The specified Kubernetes service account token is expired., fault: client"),
     "container_credentials_token_expired"),
    (_CONTAINER % (400, "[r]: (InvalidTokenException): The specified Kubernetes service account token is invalid., fault: client"),
     "container_credentials_unauthorized"),
    (_CONTAINER % (403, "Access Denied. Called agent through invalid address"), "container_credentials_unauthorized"),
    (_CONTAINER % (404, "[r]: (ResourceNotFoundException): no association, fault: client"), "container_credentials_unauthorized"),
    (_CONTAINER % (500, "Unable to serialize credentials"), "container_credentials_error"),
    ("CredentialRetrievalError: Error when retrieving credentials from container-role: Error retrieving metadata: Received error when "
     "attempting to retrieve container metadata: Could not connect to the endpoint URL", "container_credentials_unreachable"),
    ("LookupError: boto3's credential chain found no credentials", "explicit_aws_credentials_failed"),
])
def test_explicit_mode_aws_runtime_failures_have_their_own_codes(error, code):
    hops = [{"name": "region", "ok": True, "source": "aws_region_name"},
            {"name": "aws_credentials", "ok": False, "source": "boto3 session", "error": error}]
    assert classify(hops, "explicit", "us-east-1") == (code, "aws_credentials")
    assert render(code, {"error": error})["cause"]


def test_the_boto3_fallback_uses_the_default_chain_without_keys(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from ansible_collections.keyless.wif.plugins.module_utils.wif import litellm_credentials

    made = []
    monkeypatch.setattr(boto3, "Session", lambda **kwargs: made.append(kwargs))
    info = dict(INFO, aws_region_name="eu-west-1")
    info.pop("credential_source")
    litellm_credentials.explicit_credentials(info, loader=lambda: None)
    assert made == [{"region_name": "eu-west-1"}]
    litellm_credentials.explicit_credentials(dict(info, aws_access_key_id="AKIA", aws_secret_access_key="s"), loader=lambda: None)
    assert made[-1] == {"region_name": "eu-west-1", "aws_access_key_id": "AKIA", "aws_secret_access_key": "s"}


def test_a_bad_region_is_wrong_region_whatever_sts_says():
    hop = {"name": "sts_exchange", "ok": False, "status": 400, "method": "POST", "google_error": {"status": "invalid_grant", "message": "x"}}
    assert classify([hop], "ec2", "us-east-")[0] == "wrong_region"


def test_recording_transport_keeps_no_query_no_body_and_names_hops():
    recorder = Recorder()
    inner = FakeInner({"token": (401, {"error": "invalid_token", "error_description": "bad", "access_token": "never"})})
    request = RecordingRequest(inner, recorder, hop_namer(INFO), {"imds_token": 1})
    request(MD + "/latest/api/token?secret=1", method="PUT", headers={"Authorization": "x"})
    hop = recorder.hops[0]
    assert hop["name"] == "imds_token" and hop["url"] == MD + "/latest/api/token" and hop["status"] == 401 and not hop["ok"]
    assert hop["google_error"] == {"status": "invalid_token", "message": "bad"}
    assert public_url("http://user:pw@proxy:3128/p?q=1") == "http://proxy:3128/p"
    assert hop_namer(INFO)(MD + "/latest/meta-data/iam/security-credentials/role") == "aws_credentials"
    assert google_error(b"<html>") == {}


def test_every_template_renders_without_context_and_with_it():
    for code in DIAGNOSES:
        text = render(code)
        assert text["cause"] and text["fix"]
    assert "sa@p.iam" in render("binding_missing", {"email": "sa@p.iam", "member": "principalSet://x"})["fix"]


def _readme_rows():
    text = (REPO / "README.md").read_text()
    section = text.split("## Troubleshooting: what `wif_credentials_check` says, and the fix", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_the_readme_table_is_the_diagnosis_table():
    assert _readme_rows() == troubleshooting_rows(), "regenerate the README rows from diagnoses.troubleshooting_rows()"


def test_the_module_documents_exactly_the_table_s_codes():
    source = (REPO / "plugins/modules/wif_credentials_check.py").read_text()
    returned = source.split('RETURN = r"""', 1)[1].split("diagnosis:", 1)[1].split("cause:", 1)[0]
    assert set(re.findall(r"C\(([a-z_]+)\)", returned)) == set(DIAGNOSES)


def test_propagation_verdict():
    check = {"diagnosis": {"code": "binding_missing"}, "service_account": "sa@p", "principal_set": "principalSet://m", "waited_seconds": 12}
    assert "the cause is IAM propagation" in propagation_verdict(check, {"changed": False})
    assert "the binding is missing" in propagation_verdict(check, {"changed": True})
    assert propagation_verdict({"diagnosis": {"code": "invalid_target"}}, None) == ""


SHOW = """LoadState=loaded
Environment=LITELLM_MODE=PRODUCTION "HTTPS_PROXY=http://proxy.internal:3128" NO_PROXY=169.254.169.254
EnvironmentFiles=/etc/litellm/litellm-proxy.env (ignore_errors=no)
EnvironmentFiles=/etc/litellm/optional.env (ignore_errors=yes)
"""


def test_service_environment_is_manager_then_environment_then_files(tmp_path):
    files = {"/etc/litellm/litellm-proxy.env": {"NO_PROXY": "169.254.169.254,.internal", "AWS_CONFIG_FILE": "/etc/litellm/aws"}}

    def read(path):
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    env = systemd.service_environment("litellm-proxy", SHOW, "PATH=/usr/bin\nODD=$'a\\nb'\n", read=read)
    assert env == {"PATH": "/usr/bin", "LITELLM_MODE": "PRODUCTION", "HTTPS_PROXY": "http://proxy.internal:3128",
                   "NO_PROXY": "169.254.169.254,.internal", "AWS_CONFIG_FILE": "/etc/litellm/aws"}
    with pytest.raises(ValueError, match="not-found"):
        systemd.service_environment("nope", "LoadState=not-found\n", read=read)
    with pytest.raises(ValueError, match="EnvironmentFile"):
        systemd.service_environment("x", SHOW.replace("optional.env (ignore_errors=yes)", "missing.env (ignore_errors=no)"), read=read)


def test_apply_environment_drops_what_the_module_inherited():
    environ = {"HTTPS_PROXY": "http://inherited", "https_proxy": "http://inherited", "AWS_REGION": "eu-west-1",
               "REQUESTS_CA_BUNDLE": "/inherited", "PATH": "/bin"}
    systemd.apply_environment(environ, {"NO_PROXY": "169.254.169.254"})
    assert environ == {"PATH": "/bin", "NO_PROXY": "169.254.169.254"}


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"type": "service_account"}, "not_external_account", "service_account"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "wrong_subject_token_type", "token-type:jwt"),
    ({"audience": "//iam.googleapis.com/projects/p/pools/x"}, "audience_malformed", "projects/p/pools/x"),
    ({"audience": INFO["audience"].replace("123456789012", "my-project")}, "audience_project_id", "my-project"),
    ({"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/sa"}, "impersonation_url_malformed", "/v1/sa"),
    ({"aws_role_name": "r"}, "explicit_region_missing", "aws_region_name"),
])
def test_a_broken_file_is_diagnosed_before_any_request_in_the_table_s_words(change, code, words):
    class NoRequests:
        def request(self, *args, **kwargs):
            raise AssertionError("a broken file must not lead to a request")

    result = run_check(dict(INFO, **change), session=NoRequests())
    assert (result["ok"], result["failed_hop"], result["diagnosis"]["code"]) == (False, "config", code)
    assert result["diagnosis"] == render(code, {"type": change.get("type"), "subject_token_type": change.get("subject_token_type"),
                                                "audience": change.get("audience"),
                                                "url": change.get("service_account_impersonation_url")})
    assert words in result["diagnosis"]["cause"] + result["diagnosis"]["fix"]


@pytest.mark.parametrize(("variable", "code"), [
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "container_credentials_token_missing"),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_missing"),
])
def test_a_token_file_botocore_cannot_open_is_named_by_its_variable(tmp_path, monkeypatch, variable, code):
    missing = str(tmp_path / "token")
    monkeypatch.setenv(variable, missing)
    with pytest.raises(FileNotFoundError) as raised:
        open(missing)  # noqa: SIM115 - the error botocore lets through
    error = exception_text(raised.value)
    assert error == "FileNotFoundError: No such file or directory: %s" % missing
    hop = {"name": "aws_credentials", "ok": False, "error": error}
    assert classify([hop], "explicit")[0] == code
