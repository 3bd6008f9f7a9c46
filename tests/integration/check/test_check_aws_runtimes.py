"""The credential check on EKS IRSA, EKS Pod Identity and ECS task roles (explicit mode, boto3's default chain).

For every case google-auth with boto3's own chain (what LiteLLM's explicit mode does) and the check
run in the same environment, against the in-process emulator (its STS answers
AssumeRoleWithWebIdentity) and a loopback container credential endpoint; both must succeed or
both fail, and each refusal must get its own diagnosis code.
"""

from __future__ import annotations

import time

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif.check import run_check
from wif_emulator.container_credentials import ContainerCredentialsServer

from .check_harness import ACCOUNT, ISSUER, ROLE, SECRET, Cloud, closed_port, explicit_info, plain_boto3_google_auth

ROLE_ARN = "arn:aws:iam::%s:role/%s" % (ACCOUNT, ROLE)


@pytest.fixture(scope="module")
def cloud():
    emulator = Cloud()
    try:
        yield emulator
    finally:
        emulator.stop()


# id, source (irsa | pod-identity | ecs | dead-container), token options (None: no token file), expected diagnosis (None: works)
CASES = [
    ("irsa-ok", "irsa", {}, None),
    ("irsa-expired-token", "irsa", {"ttl_seconds": 0}, "web_identity_token_expired"),
    ("irsa-foreign-token", "irsa", {"foreign": True}, "web_identity_token_rejected"),
    ("irsa-wrong-audience", "irsa", {"audience": "pods.eks.amazonaws.com"}, "web_identity_audience"),
    ("irsa-role-not-trusted", "irsa-other-role", {}, "web_identity_role_denied"),
    ("pod-identity-ok", "pod-identity", {}, None),
    ("pod-identity-missing-authorization-token", "pod-identity", None, "container_credentials_token_missing"),
    ("pod-identity-expired-token", "pod-identity", {"ttl_seconds": 0}, "container_credentials_token_expired"),
    ("pod-identity-foreign-token", "pod-identity", {"foreign": True}, "container_credentials_unauthorized"),
    ("pod-identity-irsa-audience", "pod-identity", {"audience": "sts.amazonaws.com"}, "container_credentials_unauthorized"),
    ("ecs-ok", "ecs", None, None),
    ("container-endpoint-unreachable", "dead-container", None, "container_credentials_unreachable"),
]


@pytest.mark.parametrize("name, source, token_options, expected", CASES, ids=[case[0] for case in CASES])
def test_check_agrees_with_boto3_and_google_auth(cloud, monkeypatch, tmp_path, name, source, token_options, expected):
    cloud.reset()
    audience = cloud.setup()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                "https_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = None
    token_file = tmp_path / "token"
    if source.startswith("irsa"):
        token_file.write_text(cloud.web_identity_token("web-identity", **token_options))
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN if source == "irsa" else "arn:aws:iam::%s:role/not-a-trusted-role" % ACCOUNT)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", cloud.url)
    elif source == "dead-container":
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/v1/credentials" % closed_port())
    else:
        server = ContainerCredentialsServer(SECRET, source, ACCOUNT, ROLE, issuers=[ISSUER]).start()
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.full_uri)
        if token_options is not None:
            token_file.write_text(cloud.web_identity_token("pod-identity", **token_options))
            monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    info = explicit_info(cloud.url, audience)
    try:
        plain_ok, plain_error = plain_boto3_google_auth(info)
        started = time.monotonic()
        result = run_check(info, timeout=5, metadata_timeout=2)
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        if server is not None:
            server.stop()

    assert result["ok"] is plain_ok, (name, plain_error, result)
    assert (result["diagnosis"] or {}).get("code") == expected, (name, plain_error, result["diagnosis"], result["hops"])
    # botocore retries a failing container endpoint 3 times, 1 s apart.
    assert elapsed_ms < 10000, elapsed_ms
    if plain_ok:
        assert result["failed_hop"] is None and result["hops"][-1]["name"] == "impersonation"
    else:
        assert result["failed_hop"] == "aws_credentials" == result["hops"][-1]["name"]
    if token_file.exists():
        assert token_file.read_text() not in repr(result)  # the check never repeats the token
