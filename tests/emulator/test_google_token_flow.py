"""End to end through the real clients: google-auth's AWS external account against the
emulator and a loopback IMDS, then Vertex AI with the impersonated token."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import googleapiclient.errors
import pytest
from conftest import (
    ACCOUNT,
    AUDIENCE,
    CLOUD_PLATFORM,
    OTHER_ACCOUNT,
    POOL,
    POOL_PATH,
    PROJECT_ID,
    PROVIDER,
    ROLE,
    SA_EMAIL,
    SECRET,
    aws_credentials,
    start_metadata,
    vertex_call,
    wait_op,
)
from wif_emulator import aws

pytestmark = pytest.mark.usefixtures("no_aws_env")


def _refresh_error(creds) -> str:
    # STS errors surface as OAuthError, impersonation errors as RefreshError.
    with pytest.raises((google.auth.exceptions.RefreshError, google.auth.exceptions.OAuthError)) as info:
        creds.refresh(google.auth.transport.requests.Request())
    return str(info.value)


def test_correct_setup_yields_token_and_vertex_answer(emulator, sandbox, metadata):
    sandbox.full_setup()
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token.startswith("ya29.c.")
    assert creds.expiry > dt.datetime.now() + dt.timedelta(minutes=50)

    resp = vertex_call(emulator.base_url, creds, "Say hello to the keyless world")
    assert resp.status_code == 200, resp.text
    data = resp.json()
    text = data["candidates"][0]["content"]["parts"][0]["text"]
    assert "Say hello to the keyless world" in text
    assert data["candidates"][0]["finishReason"] == "STOP"
    usage = data["usageMetadata"]
    assert usage["promptTokenCount"] == 6
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_streaming_and_snake_case_body_as_litellm_sends_it(emulator, sandbox, metadata):
    sandbox.full_setup()
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    resp = vertex_call(emulator.base_url, creds, "one two three four five six", stream=True,
                       system_instruction={"parts": [{"text": "be brief"}]},
                       generationConfig={"max_output_tokens": 4})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = [json.loads(chunk[len("data: "):]) for chunk in resp.text.split("\n\n") if chunk]
    assert len(events) >= 2
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    assert len(text.split()) == 4
    last = events[-1]
    assert last["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert last["usageMetadata"]["promptTokenCount"] == 8  # 6 prompt words + 2 system words


def test_binding_with_iam_role_arn_is_refused(emulator, sandbox, metadata):
    wrong = (f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.aws_role/"
             f"arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    sandbox.full_setup(sa_member=wrong)
    msg = _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))
    assert "PERMISSION_DENIED" in msg
    assert "iam.serviceAccounts.getAccessToken" in msg


@pytest.mark.parametrize("member", [
    f"principal://iam.googleapis.com/{POOL_PATH}/subject/arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/"
    "i-0123456789abcdef0",
    f"principalSet://iam.googleapis.com/{POOL_PATH}/*",
])
def test_subject_and_whole_pool_members_are_accepted(emulator, sandbox, metadata, member):
    sandbox.full_setup(sa_member=member)
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.valid


def test_wrong_audience_is_invalid_target(emulator, sandbox, metadata):
    sandbox.full_setup()
    for audience in (AUDIENCE.replace(PROVIDER, "no-such-provider"),
                     AUDIENCE.replace("123456789012", PROJECT_ID)):  # id instead of number
        msg = _refresh_error(aws_credentials(emulator.base_url, metadata.base_url, audience=audience))
        assert "invalid_target" in msg


def test_disabled_provider_is_invalid_target(emulator, sandbox, metadata):
    sandbox.full_setup()
    op = sandbox.providers.patch(name=f"{POOL_PATH}/providers/{PROVIDER}", updateMask="disabled",
                                 body={"disabled": True}).execute()
    wait_op(sandbox.providers.operations(), op)
    assert "invalid_target" in _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))


def test_soft_deleted_pool_is_invalid_target(emulator, sandbox, metadata):
    sandbox.full_setup()
    wait_op(sandbox.pools.operations(), sandbox.pools.delete(name=POOL_PATH).execute())
    assert "invalid_target" in _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))
    # Undelete brings the flow back.
    wait_op(sandbox.pools.operations(), sandbox.pools.undelete(name=POOL_PATH, body={}).execute())
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.valid


def test_false_attribute_condition_is_unauthorized_client(emulator, sandbox, metadata):
    sandbox.full_setup(attributeCondition="attribute.aws_role.endsWith('/some-other-role')")
    msg = _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))
    assert "unauthorized_client" in msg
    assert "rejected by the attribute condition" in msg


def test_true_condition_and_custom_mapping_pass(emulator, sandbox, metadata):
    sandbox.full_setup(
        sa_member=f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.account/{ACCOUNT}",
        attributeMapping={"google.subject": "assertion.arn", "attribute.account": "assertion.account"},
        attributeCondition=f"assertion.arn.startsWith('arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/')")
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    assert vertex_call(emulator.base_url, creds, "hi").status_code == 200


def test_tampered_signature_is_refused(emulator, sandbox, monkeypatch):
    sandbox.full_setup()
    good = aws.mint_credentials(SECRET, ACCOUNT, ROLE, "i-0123456789abcdef0", 3600)
    # google-auth reads AWS_* first: hand it a secret key that does not match the token.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", good["AccessKeyId"])
    key = good["SecretAccessKey"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ("B" if key[0] == "A" else "A") + key[1:])
    monkeypatch.setenv("AWS_SESSION_TOKEN", good["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    msg = _refresh_error(aws_credentials(emulator.base_url, "http://127.0.0.1:9"))
    assert "invalid_grant" in msg
    assert "SignatureDoesNotMatch" in msg


def test_credentials_not_minted_by_the_emulator_are_refused(emulator, sandbox):
    sandbox.full_setup()
    from wif_emulator.imds import MetadataServer

    # An IMDS sealing credentials with another secret: the emulator never issued them.
    md = MetadataServer("a-different-secret", ACCOUNT, ROLE, "i-0123456789abcdef0", "us-east-1a",
                        host="127.0.0.1", port=0).start()
    try:
        msg = _refresh_error(aws_credentials(emulator.base_url, md.base_url))
    finally:
        md.stop()
    assert "invalid_grant" in msg
    assert "InvalidClientTokenId" in msg


def test_expired_aws_credentials_are_refused(emulator, sandbox, monkeypatch):
    sandbox.full_setup()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    old = aws.mint_credentials(SECRET, ACCOUNT, ROLE, "i-0123456789abcdef0", 3600, now=past)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", old["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", old["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", old["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    msg = _refresh_error(aws_credentials(emulator.base_url, "http://127.0.0.1:9"))
    assert "invalid_grant" in msg
    assert "ExpiredToken" in msg


def test_account_other_than_the_providers_is_refused(emulator, sandbox):
    sandbox.full_setup()
    md = start_metadata(account=OTHER_ACCOUNT)
    try:
        msg = _refresh_error(aws_credentials(emulator.base_url, md.base_url))
    finally:
        md.stop()
    assert "invalid_grant" in msg
    assert OTHER_ACCOUNT in msg


def test_vertex_refused_without_aiplatform_user(emulator, sandbox, metadata):
    sandbox.full_setup(vertex_role=False)
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    resp = vertex_call(emulator.base_url, creds, "hi")
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["status"] == "PERMISSION_DENIED"
    assert "aiplatform.endpoints.predict" in err["message"]
    # The binding on the project fixes it.
    sandbox.add_project_binding(f"serviceAccount:{SA_EMAIL}")
    assert vertex_call(emulator.base_url, creds, "hi").status_code == 200


def test_vertex_refused_when_api_disabled(emulator, sandbox, metadata):
    sandbox.full_setup()
    sandbox.su.services().disable(name=f"projects/{PROJECT_ID}/services/aiplatform.googleapis.com",
                                  body={}).execute()
    resp = vertex_call(emulator.base_url, aws_credentials(emulator.base_url, metadata.base_url), "hi")
    assert resp.status_code == 403
    assert resp.json()["error"]["details"][0]["reason"] == "SERVICE_DISABLED"


def test_vertex_unknown_token_is_401(emulator, sandbox):
    sandbox.full_setup()
    creds = google.oauth2.credentials.Credentials("ya29.not-issued-here")
    resp = vertex_call(emulator.base_url, creds, "hi", refresh_on_401=False)
    assert resp.status_code == 401
    assert resp.json()["error"]["status"] == "UNAUTHENTICATED"


def test_disabled_service_account_cannot_be_impersonated(emulator, sandbox, metadata):
    sandbox.full_setup()
    sandbox.iam.projects().serviceAccounts().disable(name=f"projects/-/serviceAccounts/{SA_EMAIL}",
                                                      body={}).execute()
    msg = _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))
    assert "FAILED_PRECONDITION" in msg


ROLE_MEMBER_FOR_PROJECT = (f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.aws_role/"
                           f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}")


def test_federated_token_without_impersonation_reaches_vertex_with_direct_grant(emulator, sandbox, metadata):
    sandbox.full_setup()
    creds = aws_credentials(emulator.base_url, metadata.base_url, sa_email=None)
    assert vertex_call(emulator.base_url, creds, "hi").status_code == 403
    sandbox.add_project_binding(ROLE_MEMBER_FOR_PROJECT)
    assert vertex_call(emulator.base_url, creds, "hi").status_code == 200


def test_boto3_get_caller_identity_through_the_same_base_url(emulator, metadata):
    creds = aws.mint_credentials(SECRET, ACCOUNT, ROLE, "i-0123456789abcdef0", 900)
    sts = boto3.client("sts", endpoint_url=emulator.base_url, region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["Token"])
    ident = sts.get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/i-0123456789abcdef0"
    assert ident["Account"] == ACCOUNT


def test_pool_id_is_part_of_the_member(emulator, sandbox, metadata):
    """A binding naming another pool grants nothing."""
    other = ROLE_MEMBER_FOR_PROJECT.replace(f"workloadIdentityPools/{POOL}/", "workloadIdentityPools/other-pool/")
    sandbox.full_setup(sa_member=other)
    assert "PERMISSION_DENIED" in _refresh_error(aws_credentials(emulator.base_url, metadata.base_url))


def test_scope_is_checked(emulator, sandbox, metadata):
    sandbox.full_setup()
    creds = aws_credentials(emulator.base_url, metadata.base_url).with_scopes(
        ["https://www.googleapis.com/auth/userinfo.email"])
    # The SA token then lacks cloud-platform: Vertex says the scopes are insufficient.
    resp = vertex_call(emulator.base_url, creds, "hi")
    assert resp.status_code == 403
    assert resp.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert CLOUD_PLATFORM not in creds.scopes


def test_google_sts_via_googleapiclient_rejects_bad_grant_type(gapi):
    sts = gapi("sts")
    with pytest.raises(googleapiclient.errors.HttpError) as info:
        sts.v1().token(body={"grantType": "password", "audience": AUDIENCE}).execute()
    assert info.value.resp.status == 400
    assert json.loads(info.value.content)["error"] == "unsupported_grant_type"


def test_vertex_request_validation(emulator, sandbox, metadata):
    sandbox.full_setup()
    creds = aws_credentials(emulator.base_url, metadata.base_url)
    session = google.auth.transport.requests.AuthorizedSession(creds)
    url = emulator.base_url + f"/v1/projects/{PROJECT_ID}/locations/us-central1/publishers/google/models/"
    resp = session.post(url + "gemini-2.0-flash:generateContent", json={"contents": []}, timeout=30)
    assert resp.status_code == 400
    assert "empty contents" in resp.json()["error"]["message"]
    resp = session.post(url + "text-bison:generateContent",
                        json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]}, timeout=30)
    assert resp.status_code == 404


def test_tokens_survive_an_emulator_restart(tmp_path, metadata):
    from conftest import Sandbox, make_config
    from wif_emulator.server import EmulatorServer

    state = str(tmp_path / "state.json")
    srv = EmulatorServer(make_config(), state_file=state).start()
    port = srv.port
    try:
        Sandbox(srv.base_url).full_setup()
        creds = aws_credentials(srv.base_url, metadata.base_url)
        creds.refresh(google.auth.transport.requests.Request())
    finally:
        srv.stop()
    srv = EmulatorServer(make_config(), port=port, state_file=state).start()
    try:
        # The cached token (as LiteLLM holds it for an hour) is still honoured.
        resp = vertex_call(srv.base_url, creds, "after restart", refresh_on_401=False)
        assert resp.status_code == 200, resp.text
        assert "after restart" in resp.json()["candidates"][0]["content"]["parts"][0]["text"]
    finally:
        srv.stop()
