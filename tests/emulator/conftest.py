"""Fixtures: the emulator in-process on an ephemeral port, a loopback IMDS, real clients."""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any

import google.auth.aws
import google.oauth2.credentials
import googleapiclient.discovery
import pytest
from google.auth.transport.requests import AuthorizedSession
from wif_emulator.imds import MetadataServer
from wif_emulator.server import EmulatorServer

ADMIN_TOKEN = "sandbox-admin-token"
PROJECT_ID = "wif-sandbox"
PROJECT_NUMBER = "123456789012"
ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
SECRET = "pytest-credential-secret"
ROLE = "wif-bound-role"
INSTANCE_ID = "i-0123456789abcdef0"
POOL = "aws-pool"
PROVIDER = "aws-provider"
SA_ID = "litellm-vertex"
SA_EMAIL = f"{SA_ID}@{PROJECT_ID}.iam.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
POOL_PATH = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{POOL}"
AUDIENCE = f"//iam.googleapis.com/{POOL_PATH}/providers/{PROVIDER}"
ROLE_MEMBER = (f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.aws_role/"
               f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}")
MODEL_URL = "/v1/projects/{project}/locations/us-central1/publishers/google/models/gemini-2.0-flash"
ALL_SERVICES = ["iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com",
                "aiplatform.googleapis.com", "cloudresourcemanager.googleapis.com"]

BASE_CONFIG: dict[str, Any] = {
    "admin_tokens": [ADMIN_TOKEN],
    "projects": [{"id": PROJECT_ID, "number": PROJECT_NUMBER, "services": ["iam.googleapis.com"]}],
    "aws": {"credential_secret": SECRET, "credential_ttl_seconds": 3600,
            "accounts": [{"id": ACCOUNT, "roles": [ROLE, "wif-unbound-role"]},
                         {"id": OTHER_ACCOUNT, "roles": [ROLE]}]},
    "operations": {"polls_before_done": 0},
}


def make_config(**overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg.update(overrides)
    return cfg


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    srv = EmulatorServer(make_config()).start()
    try:
        yield srv
    finally:
        srv.stop()


def build_client(base_url: str, api: str, version: str, token: str = ADMIN_TOKEN) -> Any:
    """A googleapiclient client from the bundled (static) discovery document."""
    return googleapiclient.discovery.build(
        api, version, static_discovery=True,
        credentials=google.oauth2.credentials.Credentials(token),
        client_options={"api_endpoint": base_url}, cache_discovery=False)


@pytest.fixture
def gapi(emulator: EmulatorServer) -> Callable[..., Any]:
    def _build(api: str, version: str = "v1", token: str = ADMIN_TOKEN) -> Any:
        return build_client(emulator.base_url, api, version, token)
    return _build


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth prefers AWS_* variables over IMDS: the tests decide what it sees."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)


def start_metadata(account: str = ACCOUNT, role: str = ROLE, **kwargs: Any) -> MetadataServer:
    return MetadataServer(SECRET, account, role, INSTANCE_ID, "us-east-1a", host="127.0.0.1",
                          port=0, require_token=True, **kwargs).start()


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    md = start_metadata()
    try:
        yield md
    finally:
        md.stop()


def wait_op(ops_api: Any, op: dict[str, Any], limit: int = 20) -> dict[str, Any]:
    """Poll an IAM operation until done (bounded)."""
    for _ in range(limit):
        if op.get("done"):
            return op
        op = ops_api.get(name=op["name"]).execute()
    raise AssertionError(f"operation {op['name']} not done after {limit} polls")


class Sandbox:
    """Sets the Google side up with googleapiclient, as the collection's modules do."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.iam = build_client(base_url, "iam", "v1")
        self.crm = build_client(base_url, "cloudresourcemanager", "v1")
        self.su = build_client(base_url, "serviceusage", "v1")
        self.pools = self.iam.projects().locations().workloadIdentityPools()
        self.providers = self.pools.providers()

    def enable_services(self, services: list[str] = ALL_SERVICES) -> None:
        self.su.services().batchEnable(parent=f"projects/{PROJECT_ID}",
                                       body={"serviceIds": services}).execute()

    def create_pool(self, pool: str = POOL, **body: Any) -> dict[str, Any]:
        op = self.pools.create(parent=f"projects/{PROJECT_ID}/locations/global",
                               workloadIdentityPoolId=pool, body=body).execute()
        return wait_op(self.pools.operations(), op)

    def create_provider(self, pool: str = POOL, provider: str = PROVIDER, account: str = ACCOUNT,
                        **body: Any) -> dict[str, Any]:
        body.setdefault("aws", {"accountId": account})
        op = self.providers.create(
            parent=f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool}",
            workloadIdentityPoolProviderId=provider, body=body).execute()
        return wait_op(self.providers.operations(), op)

    def create_sa(self, account_id: str = SA_ID) -> dict[str, Any]:
        return self.iam.projects().serviceAccounts().create(
            name=f"projects/{PROJECT_ID}",
            body={"accountId": account_id, "serviceAccount": {"displayName": "LiteLLM"}}).execute()

    def add_sa_binding(self, member: str, role: str = "roles/iam.workloadIdentityUser",
                       email: str = SA_EMAIL) -> dict[str, Any]:
        sas = self.iam.projects().serviceAccounts()
        resource = f"projects/-/serviceAccounts/{email}"
        policy = sas.getIamPolicy(resource=resource, options_requestedPolicyVersion=3).execute()
        policy.setdefault("bindings", []).append({"role": role, "members": [member]})
        return sas.setIamPolicy(resource=resource, body={"policy": policy}).execute()

    def add_project_binding(self, member: str, role: str = "roles/aiplatform.user") -> dict[str, Any]:
        projects = self.crm.projects()
        policy = projects.getIamPolicy(resource=PROJECT_ID, body={
            "options": {"requestedPolicyVersion": 3}}).execute()
        policy.setdefault("bindings", []).append({"role": role, "members": [member]})
        return projects.setIamPolicy(resource=PROJECT_ID, body={"policy": policy}).execute()

    def full_setup(self, sa_member: str = ROLE_MEMBER, vertex_role: bool = True,
                   **provider_body: Any) -> None:
        self.enable_services()
        self.create_pool(displayName="AWS pool")
        self.create_provider(**provider_body)
        self.create_sa()
        self.add_sa_binding(sa_member)
        if vertex_role:
            self.add_project_binding(f"serviceAccount:{SA_EMAIL}")


@pytest.fixture
def sandbox(emulator: EmulatorServer) -> Sandbox:
    return Sandbox(emulator.base_url)


def external_account_info(base_url: str, md_url: str, audience: str = AUDIENCE,
                          sa_email: str | None = SA_EMAIL) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": f"{base_url}/v1/token",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": f"{md_url}/latest/meta-data/placement/availability-zone",
            "url": f"{md_url}/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": f"{md_url}/latest/api/token",
            "regional_cred_verification_url":
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }
    if sa_email:
        info["service_account_impersonation_url"] = (
            f"{base_url}/v1/projects/-/serviceAccounts/{sa_email}:generateAccessToken")
    return info


def aws_credentials(base_url: str, md_url: str, **kwargs: Any) -> google.auth.aws.Credentials:
    return google.auth.aws.Credentials.from_info(external_account_info(base_url, md_url, **kwargs),
                                                 scopes=[CLOUD_PLATFORM])


def vertex_call(base_url: str, creds: Any, prompt: str, *, stream: bool = False,
                project: str = PROJECT_ID, refresh_on_401: bool = True, **extra: Any) -> Any:
    session = AuthorizedSession(creds, refresh_status_codes=(401,) if refresh_on_401 else ())
    verb = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], **extra}
    return session.post(base_url + MODEL_URL.format(project=project) + verb, json=body, timeout=30)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
