"""Diagnosis logic of plugins/module_utils/wif_check.py (the wif_credentials_check module).

Every hop talks through an injected fake HTTP layer: no network, no metadata service.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import check as wif_check
from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account
from ansible_collections.keyless.wif.plugins.module_utils.wif.check import Checker, HttpAnswer, NoAnswer

AUDIENCE = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-hosts/providers/aws-ec2"
SA = "litellm-vertex@wif-sandbox.iam.gserviceaccount.com"
IMDS = "http://169.254.169.254"
STS_URL = "https://sts.googleapis.com/v1/token"
IMP_URL = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/%s:generateAccessToken" % SA
FEDERATED = "federated-token-SECRET-1"
ACCESS = "access-token-SECRET-2"
AWS_SECRET = "aws-secret-SECRET-3"
AWS_SESSION = "aws-session-SECRET-4"


def info(**overrides):
    doc = {
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": external_account.AWS_SUBJECT_TOKEN_TYPE,
        "token_url": STS_URL,
        "service_account_impersonation_url": IMP_URL,
        "credential_source": {
            "environment_id": "aws1",
            "region_url": IMDS + "/latest/meta-data/placement/availability-zone",
            "url": IMDS + "/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": IMDS + "/latest/api/token",
        },
    }
    doc.update(overrides)
    return doc


def oauth_error(status, error, description):
    return HttpAnswer(status, json.dumps({"error": error, "error_description": description}))


def google_error(status, code, message, **extra):
    return HttpAnswer(status, json.dumps({"error": {"code": status, "message": message, "status": code, **extra}}))


class FakeHttp:
    """Answers by (method, url); a value may be an HttpAnswer, a NoAnswer to raise, or a callable."""

    def __init__(self, overrides=None, role="wif-unbound-role", az="us-east-1b"):
        self.calls = []
        creds = {"Code": "Success", "AccessKeyId": "ASIAFAKE", "SecretAccessKey": AWS_SECRET, "Token": AWS_SESSION, "Expiration": "2026-01-01T00:00:00Z"}
        self.routes = {
            ("PUT", IMDS + "/latest/api/token"): HttpAnswer(200, "imds-session"),
            ("GET", IMDS + "/latest/meta-data/iam/security-credentials"): HttpAnswer(200, role),
            ("GET", IMDS + "/latest/meta-data/iam/security-credentials/" + role): HttpAnswer(200, json.dumps(creds)),
            ("GET", IMDS + "/latest/meta-data/placement/availability-zone"): HttpAnswer(200, az),
            ("GET", IMDS + "/latest/dynamic/instance-identity/document"): HttpAnswer(200, json.dumps({"accountId": "111111111111"})),
            ("POST", STS_URL): HttpAnswer(200, json.dumps({"access_token": FEDERATED, "expires_in": 3600, "token_type": "Bearer"})),
            ("POST", IMP_URL): HttpAnswer(200, json.dumps({"accessToken": ACCESS, "expireTime": "2026-11-25T21:00:00Z"})),
        }
        self.routes.update(overrides or {})

    def __call__(self, method, url, headers=None, body=None, timeout=None):
        self.calls.append({"method": method, "url": url, "headers": headers or {}, "body": body, "timeout": timeout})
        answer = self.routes.get((method, url), HttpAnswer(404, "not found"))
        if callable(answer) and not isinstance(answer, HttpAnswer):
            answer = answer(method, url, headers, body)
        if isinstance(answer, NoAnswer):
            raise answer
        return answer


def run(doc=None, http=None, environ=None, **kw):
    http = http or FakeHttp()
    result = Checker(doc or info(), http=http, environ=environ or {}, **kw).run()
    return result, http


def test_happy_path_reports_every_hop_and_never_a_token():
    result = run()[0]
    assert result["ok"] is True
    assert [h["name"] for h in result["hops"]] == ["imds_token", "role_name", "aws_credentials", "region", "sts_exchange", "impersonation"]
    assert all(h["ok"] for h in result["hops"])
    assert result["access_token_expiry"] == "2026-11-25T21:00:00Z"
    assert result["federated_token_expires_in"] == 3600
    assert result["caller"]["aws_role"] == "arn:aws:sts::111111111111:assumed-role/wif-unbound-role"
    assert result["caller"]["region"] == "us-east-1"
    dumped = json.dumps(result)
    for secret in (FEDERATED, ACCESS, AWS_SECRET, AWS_SESSION, "imds-session"):
        assert secret not in dumped


def test_sts_request_is_what_google_auth_sends():
    http = run()[1]
    sts = next(c for c in http.calls if c["url"] == STS_URL)
    form = dict(urllib.parse.parse_qsl(sts["body"]))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert form["audience"] == AUDIENCE
    assert form["scope"] == "https://www.googleapis.com/auth/iam"
    assert form["subject_token_type"] == "urn:ietf:params:aws:token-type:aws4_request"
    signed = json.loads(urllib.parse.unquote(form["subject_token"]))
    assert signed["url"] == "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    assert signed["method"] == "POST"
    headers = {h["key"].lower(): h["value"] for h in signed["headers"]}
    assert headers["x-goog-cloud-target-resource"] == AUDIENCE
    assert headers["x-amz-security-token"] == AWS_SESSION
    # the target-resource header is added after signing, so it is not among the signed headers
    assert "x-goog-cloud-target-resource" not in headers["authorization"]
    imp = next(c for c in http.calls if c["url"] == IMP_URL)
    assert imp["headers"]["Authorization"] == "Bearer " + FEDERATED
    assert json.loads(imp["body"]) == {"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}


def test_subject_token_verifies_with_the_emulator():
    from wif_emulator import aws

    secret = "unit-test-secret"
    creds = aws.mint_credentials(secret, "111111111111", "wif-bound-role", "i-0abc", 3600)
    http = FakeHttp(
        {("GET", IMDS + "/latest/meta-data/iam/security-credentials/wif-unbound-role"): HttpAnswer(200, json.dumps(creds))},
    )
    run(http=http)
    form = dict(urllib.parse.parse_qsl(next(c for c in http.calls if c["url"] == STS_URL)["body"]))
    identity = aws.verify_google_subject_token(secret, form["subject_token"], AUDIENCE)
    assert identity.arn == "arn:aws:sts::111111111111:assumed-role/wif-bound-role/i-0abc"


def test_binding_missing_suggests_the_assumed_role_principal_set():
    http = FakeHttp({("POST", IMP_URL): google_error(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource.")})
    result = run(http=http)[0]
    assert result["ok"] is False
    assert result["failed_hop"] == "impersonation"
    diag = result["diagnosis"]
    assert diag["code"] == "binding_missing"
    member = (
        "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-hosts"
        "/attribute.aws_role/arn:aws:sts::111111111111:assumed-role/wif-unbound-role"
    )
    assert member in diag["fix"]
    assert "roles/iam.workloadIdentityUser" in diag["fix"]
    assert SA in diag["fix"]
    assert result["hops"][-1] == {**result["hops"][-1], "name": "impersonation", "ok": False, "status": 403}


def test_binding_hint_without_identity_document_keeps_placeholders():
    http = FakeHttp(
        {
            ("POST", IMP_URL): google_error(403, "PERMISSION_DENIED", "denied"),
            ("GET", IMDS + "/latest/dynamic/instance-identity/document"): HttpAnswer(404, ""),
        }
    )
    result = run(http=http)[0]
    assert "arn:aws:sts::ACCOUNT_ID:assumed-role/wif-unbound-role" in result["diagnosis"]["fix"]


def test_iamcredentials_api_disabled():
    message = "IAM Service Account Credentials API has not been used in project 1 before or it is disabled."
    http = FakeHttp({("POST", IMP_URL): google_error(403, "PERMISSION_DENIED", message, details=[{"reason": "SERVICE_DISABLED"}])})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "iamcredentials_api_disabled"


def test_service_account_not_found():
    http = FakeHttp({("POST", IMP_URL): google_error(404, "NOT_FOUND", "Not found; Gaia id not found for email %s" % SA)})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "service_account_not_found"


def test_imdsv2_put_without_answer_is_the_hop_limit_or_unreachable_metadata():
    http = FakeHttp({("PUT", IMDS + "/latest/api/token"): NoAnswer("timeout", "no answer within 2s")})
    result = run(http=http, metadata_timeout=2)[0]
    assert result["failed_hop"] == "imds_token"
    assert result["diagnosis"]["code"] == "metadata_no_answer"
    assert "--http-put-response-hop-limit 2" in result["diagnosis"]["fix"]
    assert [h["name"] for h in result["hops"]] == ["imds_token"]
    assert http.calls[0]["timeout"] == 2


def test_metadata_refused():
    http = FakeHttp({("PUT", IMDS + "/latest/api/token"): NoAnswer("refused", "connection refused")})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "metadata_unreachable"
    assert "explicit" in result["diagnosis"]["fix"]


def test_no_instance_profile():
    http = FakeHttp({("GET", IMDS + "/latest/meta-data/iam/security-credentials"): HttpAnswer(404, "")})
    result = run(http=http)[0]
    assert result["failed_hop"] == "role_name"
    assert result["diagnosis"]["code"] == "no_instance_role"


def test_region_url_pointing_at_the_region_endpoint():
    http = FakeHttp({("GET", IMDS + "/latest/meta-data/placement/availability-zone"): HttpAnswer(200, "us-east-1")})
    result = run(http=http)[0]
    assert result["failed_hop"] == "region"
    assert result["diagnosis"]["code"] == "wrong_region"
    assert "availability zone" in result["diagnosis"]["cause"]
    assert not any(c["url"] == STS_URL for c in http.calls)


def test_bad_aws_region_environment_variable():
    result = run(environ={"AWS_REGION": "us-east-1a"})[0]
    assert result["diagnosis"]["code"] == "wrong_region"
    assert "AWS_REGION" in result["diagnosis"]["cause"]


def test_sts_signature_region_mismatch_is_wrong_region():
    http = FakeHttp({("POST", STS_URL): oauth_error(400, "invalid_grant", "Credential should be scoped to a valid region.")})
    result = run(http=http)[0]
    assert result["failed_hop"] == "sts_exchange"
    assert result["diagnosis"]["code"] == "wrong_region"


def test_sts_expired_credentials():
    http = FakeHttp({("POST", STS_URL): oauth_error(400, "invalid_grant", "The security token included in the request is expired")})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "aws_credentials_rejected"


@pytest.mark.parametrize("description", ["The target service indicated by the audience is invalid.", "Pool is disabled", "provider deleted"])
def test_invalid_target(description):
    http = FakeHttp({("POST", STS_URL): HttpAnswer(400, json.dumps({"error": "invalid_target", "error_description": description}))})
    result = run(http=http)[0]
    diag = result["diagnosis"]
    assert diag["code"] == "invalid_target"
    assert "disabled" in diag["cause"] and "deleted" in diag["cause"]
    assert "--workload-identity-pool=aws-hosts" in diag["fix"] and "aws-ec2" in diag["fix"] and "undelete" in diag["fix"]


def test_attribute_condition():
    http = FakeHttp({("POST", STS_URL): oauth_error(400, "unauthorized_client", "The given credential is rejected by the attribute condition.")})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "attribute_condition"
    assert "arn:aws:sts::111111111111:assumed-role/wif-unbound-role" in result["diagnosis"]["fix"]


def test_sts_unreachable():
    http = FakeHttp({("POST", STS_URL): NoAnswer("unreachable", "Name or service not known")})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "sts_exchange_unreachable"


def test_fractional_expire_time_is_refused_like_google_auth():
    http = FakeHttp({("POST", IMP_URL): HttpAnswer(200, json.dumps({"accessToken": ACCESS, "expireTime": "2026-11-25T21:00:00.123Z"}))})
    result = run(http=http)[0]
    assert result["diagnosis"]["code"] == "impersonation_bad_answer"


def test_environment_credentials_skip_the_metadata_service():
    result, http = run(environ={"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1"})
    assert result["ok"] is True
    assert not any("169.254.169.254" in c["url"] for c in http.calls)
    assert result["caller"]["region"] == "eu-west-1"


def test_audience_with_project_id_fails_before_any_request():
    doc = info(audience=AUDIENCE.replace("123456789012", "wif-sandbox"))
    result, http = run(doc)
    assert result["failed_hop"] == "config"
    assert result["diagnosis"]["code"] == "audience_project_id"
    assert http.calls == []


def test_malformed_audience():
    result, http = run(info(audience="projects/123/locations/global/workloadIdentityPools/p/providers/q"))
    assert result["diagnosis"]["code"] == "audience_malformed"
    assert http.calls == []


def test_explicit_mode_without_region_is_refused():
    result = run(info(aws_profile_name="wif", credential_source={"environment_id": "aws1"}))[0]
    assert result["mode"] == "explicit"
    assert result["diagnosis"]["code"] == "explicit_region_missing"


def test_explicit_mode_uses_the_supplier_and_no_metadata():
    seen = {}

    def supplier(params):
        seen.update(params)
        return {"AccessKeyId": "ASIAEXPLICIT", "SecretAccessKey": AWS_SECRET, "Token": AWS_SESSION}, "fake chain"

    doc = info(aws_region_name="eu-west-1", aws_profile_name="wif", credential_source={"environment_id": "aws1"})
    result, http = run(doc, explicit_supplier=supplier)
    assert result["ok"] is True
    assert result["mode"] == "explicit"
    assert [h["name"] for h in result["hops"]] == ["aws_credentials", "region", "sts_exchange", "impersonation"]
    assert seen == {"aws_region_name": "eu-west-1", "aws_profile_name": "wif"}
    assert not any("169.254.169.254" in c["url"] for c in http.calls)
    form = dict(urllib.parse.parse_qsl(next(c for c in http.calls if c["url"] == STS_URL)["body"]))
    # with a credentials supplier google-auth always signs for the default regional endpoint
    assert json.loads(urllib.parse.unquote(form["subject_token"]))["url"].startswith("https://sts.eu-west-1.amazonaws.com")


def test_explicit_mode_credential_chain_failure():
    def supplier(params):
        raise RuntimeError("The config profile (wif) could not be found")

    doc = info(aws_region_name="us-east-1", aws_profile_name="wif", credential_source={"environment_id": "aws1"})
    result = run(doc, explicit_supplier=supplier)[0]
    assert result["failed_hop"] == "aws_credentials"
    assert result["diagnosis"]["code"] == "explicit_aws_credentials_failed"
    assert "could not be found" in result["diagnosis"]["cause"]


def test_durations_come_from_the_clock():
    ticks = iter(range(0, 1000))

    def clock():
        return next(ticks) * 0.5

    result = run(clock=clock)[0]
    assert all(h["duration_ms"] == 500.0 for h in result["hops"] if h["name"] != "aws_credentials")
    assert result["total_ms"] == pytest.approx(sum(h["duration_ms"] for h in result["hops"]))


def test_mode_detection_matches_litellm():
    assert external_account.mode(info()) == "ec2"
    assert external_account.mode(info(aws_role_name="arn:aws:iam::1:role/x")) == "explicit"


# ---- after a wait that gave up ------------------------------------------------------------

def _gave_up(code="binding_missing"):
    return {"diagnosis": {"code": code}, "waited_seconds": 600.4, "service_account": "sa@p.iam.gserviceaccount.com",
            "principal_set": "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/attribute.aws_role/r"}


def test_verdict_propagation_when_the_controller_sees_the_binding():
    text = wif_check.propagation_verdict(_gave_up(), {"changed": False})
    assert text.startswith("The controller sees principalSet://") and "the cause is IAM propagation" in text
    assert "after 600 s" in text


def test_verdict_missing_when_the_controller_would_add_it():
    assert wif_check.propagation_verdict(_gave_up(), {"changed": True}).endswith("the binding is missing.")


def test_verdict_says_when_the_controller_could_not_look():
    assert "could not read the policy" in wif_check.propagation_verdict(_gave_up(), {"failed": True, "msg": "no ADC"})
    assert "did not look" in wif_check.propagation_verdict(_gave_up(), {"skipped": True})
    assert "did not look" in wif_check.propagation_verdict(_gave_up(), None)


def test_verdict_is_empty_for_other_diagnoses():
    assert wif_check.propagation_verdict(_gave_up("invalid_target"), {"changed": False}) == ""
    assert wif_check.propagation_verdict({"ok": True, "diagnosis": None}, None) == ""
