"""The ECS task-role and EKS Pod Identity agent endpoints, read by botocore's own ContainerProvider."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest
import requests
from botocore.credentials import ContainerProvider
from botocore.utils import ContainerMetadataFetcher
from conftest import ACCOUNT, ROLE, SECRET
from wif_emulator.aws import web_identity
from wif_emulator.container_credentials import ContainerCredentialsServer

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
POD_AUD = "pods.eks.amazonaws.com"


def provider(full_uri, tmp_path=None, token=None):
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": full_uri}
    if token is not None:
        path = tmp_path / "eks-pod-identity-token"
        path.write_text(token)
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(path)
    return ContainerProvider(environ=env, fetcher=ContainerMetadataFetcher(sleep=lambda seconds: None))


def pod_token(**options):
    return web_identity.mint_token(SECRET, ISSUER, **dict({"audience": POD_AUD}, **options))


def test_ecs_task_role_through_botocore(tmp_path):
    with ContainerCredentialsServer(SECRET, "ecs", ACCOUNT, ROLE) as ecs:
        assert ecs.relative_uri.startswith("/v2/credentials/")
        creds = provider(ecs.full_uri).load()
        assert creds.method == "container-role"
        frozen = creds.get_frozen_credentials()
        assert frozen.access_key.startswith("ASIA") and frozen.token
        body = requests.get(ecs.full_uri, timeout=5).json()
        assert body["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
        assert set(body) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
        assert requests.get(ecs.base_url + "/v2/credentials/someone-else", timeout=5).status_code == 404
        assert requests.post(ecs.full_uri, timeout=5).status_code == 405


def test_ecs_credentials_are_the_emulators_and_renew(tmp_path):
    now = [dt.datetime.now(dt.UTC)]
    with ContainerCredentialsServer(SECRET, "ecs", ACCOUNT, ROLE, ttl_seconds=600, clock=lambda: now[0]) as ecs:
        first = requests.get(ecs.full_uri, timeout=5).json()
        assert requests.get(ecs.full_uri, timeout=5).json()["AccessKeyId"] == first["AccessKeyId"]
        now[0] += dt.timedelta(seconds=450)  # less than min(300 s, ttl/3) left: renewed
        assert requests.get(ecs.full_uri, timeout=5).json()["AccessKeyId"] != first["AccessKeyId"]


def test_pod_identity_through_botocore(tmp_path):
    with ContainerCredentialsServer(SECRET, "pod-identity", ACCOUNT, ROLE, issuers=[ISSUER]) as agent:
        assert agent.full_uri.endswith("/v1/credentials")
        frozen = provider(agent.full_uri, tmp_path, pod_token()).load().get_frozen_credentials()
        assert frozen.access_key.startswith("ASIA")
        body = requests.get(agent.full_uri, headers={"Authorization": pod_token()}, timeout=5).json()
        assert set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "AccountId", "Expiration"}
        assert body["AccountId"] == ACCOUNT


@pytest.mark.parametrize("token, status, message", [
    (None, 400, "Service account token cannot be empty"),
    ("", 400, "Service account token cannot be empty"),
    ("not-a-jwt", 400, "Service account token cannot be parsed: "),
    (pod_token(ttl_seconds=0), 400, "Service account token failed basic claim validations: token has invalid claims: token is expired"),
    (pod_token(foreign=True), 400, "(InvalidTokenException): The specified Kubernetes service account token is invalid., fault: client"),
    (pod_token(audience="sts.amazonaws.com"), 400, "(InvalidTokenException)"),
    (web_identity.mint_token(SECRET, "https://oidc.eks.us-east-1.amazonaws.com/id/UNKNOWN", audience=POD_AUD), 400, "(InvalidTokenException)"),
], ids=["none", "empty", "not-a-jwt", "expired", "foreign-key", "sts-audience", "unknown-issuer"])  # tokens differ per run: name them
def test_every_pod_identity_refusal_is_the_agents(tmp_path, token, status, message):
    with ContainerCredentialsServer(SECRET, "pod-identity", ACCOUNT, ROLE, issuers=[ISSUER]) as agent:
        headers = {} if token is None else {"Authorization": token}
        answer = requests.get(agent.full_uri, headers=headers, timeout=5)
        assert answer.status_code == status and message in answer.text and answer.text.endswith("\n")
        assert answer.headers["Content-Type"].startswith("text/plain")
        with pytest.raises(botocore.exceptions.CredentialRetrievalError) as caught:
            provider(agent.full_uri, tmp_path if token is not None else None, token).load().get_frozen_credentials()
        assert f"Received non 200 response {status} from container metadata: " in str(caught.value)


def test_pod_identity_checks_the_target_host_and_the_association(tmp_path):
    with ContainerCredentialsServer(SECRET, "pod-identity", ACCOUNT, ROLE, issuers=[ISSUER], target_hosts=["169.254.170.23"]) as agent:
        answer = requests.get(agent.full_uri, headers={"Authorization": pod_token()}, timeout=5)
        assert answer.status_code == 403
        assert answer.text.startswith("Access Denied. Called agent through invalid address, please use either [169.254.170.23] address not 127.0.0.1")
    with ContainerCredentialsServer(SECRET, "pod-identity", ACCOUNT, ROLE, issuers=[ISSUER], service_account="prod:*") as agent:
        answer = requests.get(agent.full_uri, headers={"Authorization": pod_token()}, timeout=5)
        assert answer.status_code == 404 and "(ResourceNotFoundException)" in answer.text
        ok = requests.get(agent.full_uri, headers={"Authorization": pod_token(subject="system:serviceaccount:prod:api")}, timeout=5)
        assert ok.status_code == 200
        assert requests.get(agent.base_url + "/v2/credentials/x", timeout=5).status_code == 404


def test_the_cli_serves_until_sigterm(tmp_path):
    config = tmp_path / "emu.yml"
    config.write_text(f"aws:\n  credential_secret: {SECRET}\n  credential_ttl_seconds: 900\n"
                      f"  oidc_providers:\n    - {{issuer: '{ISSUER}', account_id: '{ACCOUNT}'}}\n")
    emulator_dir = Path(__file__).resolve().parents[2] / "emulator"
    proc = subprocess.Popen([sys.executable, "-m", "wif_emulator", "container-credentials", "--config", str(config), "--listen", "127.0.0.1:0",
                             "--mode", "pod-identity", "--account-id", ACCOUNT, "--role", ROLE], cwd=emulator_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("container-credentials (pod-identity) listening on http://127.0.0.1:"), banner
        url = banner.split(" listening on ", 1)[1].split()[0]
        assert url.endswith("/v1/credentials")
        assert requests.get(url, headers={"Authorization": pod_token()}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mode"):
        ContainerCredentialsServer(SECRET, "lambda", ACCOUNT, ROLE)
    with pytest.raises(ValueError, match="relative_uri"):
        ContainerCredentialsServer(SECRET, "pod-identity", ACCOUNT, ROLE, relative_uri="/v2/credentials/x")
    with pytest.raises(ValueError, match="account_id"):
        ContainerCredentialsServer(SECRET, "ecs", "12", ROLE)
