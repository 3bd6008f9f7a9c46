"""The container credential endpoints of ONE emulated workload: an ECS task role or EKS Pod Identity.

Both are what botocore's ``ContainerProvider`` reads (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``
or ``AWS_CONTAINER_CREDENTIALS_FULL_URI``, plus ``AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]``):

- ``ecs``: the ECS agent's task-role endpoint (169.254.170.2 in a task). ``GET`` of the task's
  relative URI answers ``{RoleArn, AccessKeyId, SecretAccessKey, Token, Expiration}``; any other
  path 404 (ECS developer guide, "Task IAM role": the SDK calls 169.254.170.2 + the relative URI).
- ``pod-identity``: the EKS Pod Identity agent (169.254.170.23:80, ``/v1/credentials``). The pod's
  projected service-account token (audience ``pods.eks.amazonaws.com``) comes in the
  ``Authorization`` header; the agent validates the request itself (target host, token present,
  parseable, exp/nbf/iat), then EKS Auth ``AssumeRoleForPodIdentity`` validates the token
  (signature, issuer, audience) and its association. Errors are the agent's plain-text
  ``http.Error`` answers (aws/eks-pod-identity-agent: internal/validation/request.go,
  pkg/errors/errors.go; EKS Auth error codes and statuses from botocore's eks-auth model).

It listens wherever it is told: 169.254.170.x:80 inside a test host's namespace, or 127.0.0.1 on an
ephemeral port in pytest (botocore accepts plain http to loopback for the full URI).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wif_emulator.aws import _ACCOUNT_RE, _ROLE_RE, _utcnow, mint_credentials, web_identity
from wif_emulator.aws.partitions import PARTITIONS
from wif_emulator.cli import parse_listen, serve_until_signalled
from wif_emulator.imds import _load_aws_config
from wif_emulator.serving import bind_http, serve_in_thread, shut_down

MODES = ("ecs", "pod-identity")
POD_IDENTITY_PATH = "/v1/credentials"
# The agent's default bind addresses (configuration.DefaultIpv4TargetHost / DefaultIpv6TargetHost).
POD_IDENTITY_TARGET_HOSTS = ("169.254.170.23", "fd00:ec2::23")
_RELATIVE_URI_RE = re.compile(r"/[A-Za-z0-9._~/-]{1,200}")
_CLUSTER_RE = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
_MAX_BODY = 65536
# As IMDS: new credentials are served once less than min(5 min, a third of the TTL) is left.
REFRESH_BEFORE_SECONDS = 300

MSG_TOKEN_EMPTY = "Service account token cannot be empty"
MSG_INVALID_TOKEN = "The specified Kubernetes service account token is invalid."
MSG_EXPIRED_TOKEN = "The specified Kubernetes service account token is expired."
MSG_NO_ASSOCIATION = "No Pod Identity Association found for the service account."


def _go_list(items: Iterable[str]) -> str:
    return "[" + " ".join(items) + "]"


class ContainerCredentialsServer:
    """One container credential endpoint serving ``role_name`` of ``account_id``.

    ``issuers``: the OIDC issuers (clusters) whose tokens EKS Auth accepts (pod-identity mode).
    ``service_account``: ``NAMESPACE:NAME`` pattern(s) of the Pod Identity association (None: any).
    ``target_hosts``: the Host values the agent accepts (default: the listen address).
    """

    def __init__(self, secret: str, mode: str, account_id: str, role_name: str, *, host: str = "127.0.0.1", port: int = 0,
                 relative_uri: str | None = None, issuers: Iterable[str] = (), ttl_seconds: int = 3600,
                 target_hosts: Iterable[str] | None = None, service_account: str | None = None, cluster_name: str = "wif-cluster",
                 partition: str = "aws", clock: Callable[[], dt.datetime] | None = None, log_requests: bool = False) -> None:
        if not isinstance(secret, str) or not secret:
            raise ValueError("secret: aws.credential_secret must be a non-empty string")
        if mode not in MODES:
            raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
        if not isinstance(account_id, str) or not _ACCOUNT_RE.fullmatch(account_id):
            raise ValueError(f"account_id: must be 12 digits, got {account_id!r}")
        if not isinstance(role_name, str) or not _ROLE_RE.fullmatch(role_name):
            raise ValueError(f"role_name: must be 1-64 characters of [A-Za-z0-9+=,.@_-], got {role_name!r}")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= 43200:
            raise ValueError(f"ttl_seconds: must be an integer from 1 to 43200, got {ttl_seconds!r}")
        if partition not in PARTITIONS:
            raise ValueError(f"partition: must be one of {', '.join(PARTITIONS)}, got {partition!r}")
        if not _CLUSTER_RE.fullmatch(cluster_name):
            raise ValueError(f"cluster_name: must match [0-9A-Za-z][A-Za-z0-9_-]{{0,99}}, got {cluster_name!r}")
        if mode == "pod-identity":
            if relative_uri not in (None, POD_IDENTITY_PATH):
                raise ValueError(f"relative_uri: the Pod Identity agent serves only {POD_IDENTITY_PATH}")
            relative_uri = POD_IDENTITY_PATH
        elif relative_uri is None:
            relative_uri = f"/v2/credentials/{uuid.uuid4()}"
        if not _RELATIVE_URI_RE.fullmatch(relative_uri):
            raise ValueError(f"relative_uri: must be an absolute path such as /v2/credentials/UUID, got {relative_uri!r}")
        self.secret = secret
        self.mode = mode
        self.account_id = account_id
        self.role_name = role_name
        self.host = host
        self.port = port
        self.relative_uri = relative_uri
        self.issuers = tuple(issuers)
        self.ttl_seconds = ttl_seconds
        self.target_hosts = tuple(target_hosts) if target_hosts else (host,)
        self.service_account = service_account
        self.cluster_name = cluster_name
        self.partition = partition
        self.log_requests = log_requests
        self.task_id = uuid.uuid4().hex
        self._clock = clock or (lambda: _utcnow(None))
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[dict[str, str], dt.datetime]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ContainerCredentialsServer:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"ccs": self})
        self._httpd = bind_http(self.host, self.port, handler)
        self.port = self._httpd.server_address[1]
        self._thread = serve_in_thread(self._httpd, f"container-credentials-{self.mode}")
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        shut_down(self._httpd, self._thread, join_timeout=10)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ContainerCredentialsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def full_uri(self) -> str:
        return self.base_url + self.relative_uri

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.role_name}"

    # ------------------------------------------------------------------ credentials

    def _credentials(self, session: str) -> dict[str, str]:
        now = self._clock()
        window = dt.timedelta(seconds=min(REFRESH_BEFORE_SECONDS, self.ttl_seconds / 3))
        with self._lock:
            cached = self._cache.get(session)
            if cached is None or now > cached[1] - window:
                creds = mint_credentials(self.secret, self.account_id, self.role_name, session, self.ttl_seconds, now=now,
                                         partition=self.partition)
                expires = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
                cached = (creds, expires)
                self._cache[session] = cached
            return dict(cached[0])

    def ecs_answer(self) -> dict[str, str]:
        creds = self._credentials(self.task_id)
        return {"RoleArn": self.role_arn, "AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                "Token": creds["Token"], "Expiration": creds["Expiration"]}

    def pod_identity_answer(self, host_header: str, token: str) -> tuple[int, str]:
        """(status, body) of the agent for one request: JSON credentials or its plain-text error."""
        target = host_header
        if target.startswith("[") and "]" in target:
            target = target[1:target.index("]")]
        elif target.count(":") == 1:
            target = target.rsplit(":", 1)[0]
        if target not in self.target_hosts:
            return 403, (f"Access Denied. Called agent through invalid address, please use either {_go_list(self.target_hosts)} "
                         f"address not {target}")
        # The agent's own checks (request.go): present, parseable, basic claims (exp, nbf, iat).
        if not token:
            return 400, MSG_TOKEN_EMPTY
        try:
            claims = web_identity.unverified_claims(token)[1]
        except web_identity.TokenError as err:
            return 400, f"Service account token cannot be parsed: {err.message}"
        stamp = int(self._clock().timestamp())
        for name, bad, text in (("exp", lambda v: stamp >= v, "token is expired"),
                                ("nbf", lambda v: stamp < v, "token is not valid yet"),
                                ("iat", lambda v: stamp < v, "token used before issued")):
            value = claims.get(name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                return 400, f"Service account token cannot be parsed: token has invalid claims: {name} is invalid"
            if value is not None and bad(value):
                return 400, f"Service account token failed basic claim validations: token has invalid claims: {text}"
        # EKS Auth AssumeRoleForPodIdentity: the signature, the issuer (a cluster it knows), the audience.
        request_id = str(uuid.uuid4())

        def eks_auth(status: int, code: str, message: str) -> tuple[int, str]:
            return status, f"[{request_id}]: ({code}): {message}, fault: client"

        try:
            claims = web_identity.verify_token(self.secret, token, now=self._clock())
        except web_identity.TokenError as err:
            if err.kind == "expired":
                return eks_auth(400, "ExpiredTokenException", MSG_EXPIRED_TOKEN)
            return eks_auth(400, "InvalidTokenException", MSG_INVALID_TOKEN)
        if claims.get("iss") not in self.issuers or web_identity.POD_IDENTITY_AUDIENCE not in web_identity.audiences(claims):
            return eks_auth(400, "InvalidTokenException", MSG_INVALID_TOKEN)
        subject = claims.get("sub")
        match = re.fullmatch(r"system:serviceaccount:([^:]+):([^:]+)", subject if isinstance(subject, str) else "")
        if not match:
            return eks_auth(400, "InvalidTokenException", MSG_INVALID_TOKEN)
        if self.service_account is not None and not fnmatch.fnmatchcase(f"{match.group(1)}:{match.group(2)}", self.service_account):
            return eks_auth(404, "ResourceNotFoundException", MSG_NO_ASSOCIATION)
        pod = ((claims.get("kubernetes.io") or {}).get("pod") or {}).get("name") or match.group(2)
        session = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", f"eks-{self.cluster_name}-{pod}")[:64]
        creds = self._credentials(session)
        expiration = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        body = {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"], "Token": creds["Token"],
                "AccountId": self.account_id, "Expiration": expiration.isoformat().replace("+00:00", "Z")}
        return 200, json.dumps(body)


class _Handler(BaseHTTPRequestHandler):
    ccs: ContainerCredentialsServer
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.ccs.log_requests:
            sys.stderr.write("container-credentials %s %s\n" % (self.address_string(), format % args))

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _text(self, status: int, message: str) -> None:
        # Go's http.Error: text/plain, the message and a newline.
        self._send(status, message + "\n", "text/plain; charset=utf-8")

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(min(int(length), _MAX_BODY))

    def do_GET(self) -> None:
        self._drain()
        path = self.path.split("?", 1)[0]
        if path != self.ccs.relative_uri:
            self._text(404, "404 page not found")
            return
        if self.ccs.mode == "ecs":
            self._send(200, json.dumps(self.ccs.ecs_answer()), "application/json")
            return
        status, body = self.ccs.pod_identity_answer(self.headers.get("Host", ""), (self.headers.get("Authorization") or "").strip())
        if status == 200:
            self._send(200, body, "application/json")
        else:
            self._text(status, body)

    do_HEAD = do_GET

    def _not_allowed(self) -> None:
        self._drain()
        self._text(405, "Method Not Allowed")

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed


# --------------------------------------------------------------------------- CLI


def main_container_credentials(argv: list[str] | None = None) -> int:
    """``python -m wif_emulator container-credentials --config FILE --listen HOST:PORT --mode ecs|pod-identity ...``."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["container-credentials"]:
        args_in = args_in[1:]
    parser = argparse.ArgumentParser(prog="python -m wif_emulator container-credentials",
                                     description="Serve the ECS task-role or EKS Pod Identity credential endpoint of one workload.")
    parser.add_argument("--config", required=True, help="emulator YAML config (aws.credential_secret, credential_ttl_seconds, oidc_providers)")
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                        help="HOST:PORT, e.g. 169.254.170.2:80 (ecs) or 169.254.170.23:80 (pod-identity) inside a host's namespace")
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--role", required=True, help="the task role / the Pod Identity association's role name")
    parser.add_argument("--relative-uri", default=None, help="ecs: the task's credential path (default /v2/credentials/<uuid>)")
    parser.add_argument("--target-host", action="append", default=None,
                        help="pod-identity: a Host value the agent accepts (repeatable; default the --listen address)")
    parser.add_argument("--service-account", default=None, help="pod-identity: NAMESPACE:NAME of the association (fnmatch; default any)")
    parser.add_argument("--cluster-name", default="wif-cluster")
    args = parser.parse_args(args_in)

    secret, ttl, aws = _load_aws_config(args.config)
    providers = aws.get("oidc_providers") or []
    issuers = [p["issuer"] for p in providers if isinstance(p, dict) and isinstance(p.get("issuer"), str)]
    if args.mode == "pod-identity" and not issuers:
        sys.stderr.write("container-credentials: warning: no aws.oidc_providers in the config: every token is refused\n")
    host, port = args.listen
    try:
        server = ContainerCredentialsServer(secret, args.mode, args.account_id, args.role, host=host, port=port,
                                            relative_uri=args.relative_uri, issuers=issuers, ttl_seconds=ttl,
                                            target_hosts=args.target_host,
                                            service_account=args.service_account, cluster_name=args.cluster_name, log_requests=True)
    except ValueError as err:
        parser.error(str(err))
    if args.mode == "pod-identity":
        web_identity.trusted_key(secret)  # derive the key before the first request
    code = serve_until_signalled(server, "container-credentials", (host, port),
                                 banner=f"container-credentials ({args.mode}) listening on {{base_url}}{server.relative_uri} "
                                        f"for role {args.role} of {args.account_id}")
    if code == 0:
        print("container-credentials stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main_container_credentials())
