"""The emulator and a loopback IMDS for the credential-check tests, and a plain google-auth refresh to compare with.

Everything listens on 127.0.0.1; the credential JSON points every URL there.
"""

from __future__ import annotations

import copy
import datetime as dt
import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.auth.aws
import google.auth.transport.requests
import requests
from wif_emulator.imds import MetadataServer
from wif_emulator.server import EmulatorServer

ADMIN_TOKEN = "check-admin-token"
PROJECT_ID = "wif-check"
PROJECT_NUMBER = "123456789012"
ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
SECRET = "check-credential-secret"
ROLE = "wif-bound-role"
POOL = "aws-pool"
SA_EMAIL = "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
VERIFICATION_URL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
CONFIG: dict[str, Any] = {
    "admin_tokens": [ADMIN_TOKEN],
    "projects": [{"id": PROJECT_ID, "number": PROJECT_NUMBER, "services": ["iam.googleapis.com"]}],
    "aws": {"credential_secret": SECRET, "credential_ttl_seconds": 3600,
            "accounts": [{"id": ACCOUNT, "roles": [ROLE]}, {"id": OTHER_ACCOUNT, "roles": [ROLE]}],
            "oidc_providers": [{"issuer": ISSUER, "account_id": ACCOUNT, "audiences": ["sts.amazonaws.com"]}]},
    "operations": {"polls_before_done": 0},
}


def member(role=ROLE, account=ACCOUNT, partition="aws"):
    return ("principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/attribute.aws_role/"
            "arn:%s:sts::%s:assumed-role/%s" % (PROJECT_NUMBER, POOL, partition, account, role))


class Cloud:
    """The emulator, set up through its Google APIs with the admin token (no proxy, whatever the test's environment)."""

    def __init__(self) -> None:
        self.server = EmulatorServer(copy.deepcopy(CONFIG)).start()
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = "Bearer " + ADMIN_TOKEN

    @property
    def url(self) -> str:
        return self.server.base_url

    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        answer = self.http.request(method, self.url + path, json=body, params=params, timeout=10)
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.text.strip() else {}

    def reset(self) -> None:
        self.call("POST", "/_emulator/reset", {"state": True})

    def setup(self, provider_account: str = ACCOUNT, bind: bool = True, provider: str = "aws-provider", partition: str = "aws") -> str:
        self.call("POST", "/v1/projects/%s/services:batchEnable" % PROJECT_ID,
                  {"serviceIds": ["iamcredentials.googleapis.com", "sts.googleapis.com"]})
        self.call("POST", "/v1/projects/%s/locations/global/workloadIdentityPools" % PROJECT_ID, {"displayName": "AWS"},
                  workloadIdentityPoolId=POOL)
        self.call("POST", "/v1/projects/%s/locations/global/workloadIdentityPools/%s/providers" % (PROJECT_NUMBER, POOL),
                  {"aws": {"accountId": provider_account}}, workloadIdentityPoolProviderId=provider)
        self.call("POST", "/v1/projects/%s/serviceAccounts" % PROJECT_ID, {"accountId": "litellm-vertex", "serviceAccount": {}})
        if bind:
            resource = "/v1/projects/-/serviceAccounts/%s" % SA_EMAIL
            policy = self.call("POST", resource + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})
            policy.setdefault("bindings", []).append({"role": "roles/iam.workloadIdentityUser", "members": [member(partition=partition)]})
            self.call("POST", resource + ":setIamPolicy", {"policy": policy})
        return "//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/providers/%s" % (PROJECT_NUMBER, POOL, provider)

    def mint(self, ttl_seconds: int = 3600) -> dict[str, str]:
        return self.call("POST", "/_emulator/aws/credentials", {"account_id": ACCOUNT, "role_name": ROLE, "ttl_seconds": ttl_seconds})

    def web_identity_token(self, kind: str = "web-identity", **options: Any) -> str:
        """A projected service-account token of ISSUER (kind web-identity: IRSA's, pod-identity: Pod Identity's)."""
        return self.call("POST", "/_emulator/aws/%s-token" % kind, dict(options, account_id=ACCOUNT))["token"]

    def stop(self) -> None:
        self.server.stop()


def explicit_info(cloud_url: str, audience: str, region: str = "us-east-1") -> dict[str, Any]:
    """An explicit-mode credential JSON (LiteLLM's aws_* keys; here only the region): boto3's default chain finds the keys."""
    return {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": cloud_url + "/v1/token",
        "service_account_impersonation_url": "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (cloud_url, SA_EMAIL),
        "aws_region_name": region,
    }


def plain_boto3_google_auth(info: dict[str, Any]) -> tuple[bool, str]:
    """What LiteLLM's explicit mode does with no keys: boto3's default chain in a google-auth AWS supplier, then refresh."""
    import boto3

    class Supplier(google.auth.aws.AwsSecurityCredentialsSupplier):
        def get_aws_security_credentials(self, context: Any, request: Any) -> Any:
            frozen = boto3.Session(region_name=info["aws_region_name"]).get_credentials().get_frozen_credentials()
            return google.auth.aws.AwsSecurityCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        def get_aws_region(self, context: Any, request: Any) -> str:
            return info["aws_region_name"]

    try:
        creds = google.auth.aws.Credentials(audience=info["audience"], subject_token_type=info["subject_token_type"],
                                            token_url=info["token_url"], aws_security_credentials_supplier=Supplier(),
                                            service_account_impersonation_url=info["service_account_impersonation_url"],
                                            scopes=[CLOUD_PLATFORM])
        creds.refresh(google.auth.transport.requests.Request())
    except Exception as exc:
        return False, "%s: %s" % (type(exc).__name__, exc)
    return True, ""


def start_imds(clock_offset_seconds: int = 0, availability_zone: str = "us-east-1a") -> MetadataServer:
    clock = None
    if clock_offset_seconds:
        def clock() -> dt.datetime:
            return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=clock_offset_seconds)
    return MetadataServer(SECRET, ACCOUNT, ROLE, "i-0123456789abcdef0", availability_zone, host="127.0.0.1", port=0,
                          require_token=True, clock=clock).start()


def credential_info(cloud_url: str, md_url: str, audience: str, verification_url: str = VERIFICATION_URL) -> dict[str, Any]:
    return {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": cloud_url + "/v1/token",
        "service_account_impersonation_url": "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (cloud_url, SA_EMAIL),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": md_url + "/latest/meta-data/placement/availability-zone",
            "url": md_url + "/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": md_url + "/latest/api/token",
            "regional_cred_verification_url": verification_url,
        },
    }


def plain_google_auth(info: dict[str, Any]) -> tuple[bool, str]:
    """What the proxy's own refresh does: google-auth alone, default transport."""
    try:
        creds = google.auth.aws.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])
        creds.refresh(google.auth.transport.requests.Request())
    except Exception as exc:
        return False, "%s: %s" % (type(exc).__name__, exc)
    return True, ""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ForwardingProxy:
    """A minimal plain-HTTP forward proxy on loopback (absolute-URI requests), counting what it forwarded."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                target = urllib.parse.urlsplit(self.path)
                if target.hostname not in ("127.0.0.1", "localhost"):
                    self.send_error(403, "loopback only")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection", "host")}
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                conn.request(self.command, urllib.parse.urlunsplit(("", "", target.path, target.query, "")), body=body or None,
                             headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                proxy.forwarded.append("%s %s" % (self.command, target.path))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
