"""The instance metadata service (IMDSv2) of ONE emulated EC2 host.

It listens on whatever address it is given: in a test host that is 169.254.169.254:80 inside the
host's own network namespace; in pytest it is 127.0.0.1 on an ephemeral port. It serves the
paths google-auth and botocore read (session token, role, credentials, placement, identity
document), with IMDSv2's rules: a PUT for a session token with a TTL of 1-21600 s, GETs that
need that token when ``require_token`` is set (and are refused with a bad or expired token in
any case), and a token PUT carrying ``X-Forwarded-For`` refused as the real service does.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from wif_emulator.aws import _ACCOUNT_RE, _ROLE_RE, _utcnow, instance_profile_id, mint_credentials, partition_of_region
from wif_emulator.cli import parse_listen, serve_until_signalled
from wif_emulator.serving import bind_http, serve_in_thread, shut_down

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TOKEN_TTL = 21600
# "We make new credentials available at least five minutes before the expiration of the old
# credentials." (EC2 user guide, Retrieve security credentials from instance metadata). Short
# test TTLs scale that down to a third of the TTL.
REFRESH_BEFORE_SECONDS = 300
REFRESH_BEFORE_FRACTION = 1 / 3
_INSTANCE_RE = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?")
# us-east-1a -> us-east-1; local zones such as us-west-2-lax-1a -> us-west-2.
_AZ_RE = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)(?:-[a-z]+-[0-9]+)?[a-z]")
_MAX_BODY = 65536

_HTML = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n  <title>{status} - {reason}</title>\n </head>\n"
    " <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n"
)


def region_of(availability_zone: str) -> str:
    match = _AZ_RE.fullmatch(availability_zone)
    if not match:
        raise ValueError(f"availability_zone: must look like 'us-east-1a', got {availability_zone!r}")
    return match.group("region")


class MetadataServer:
    """IMDSv2 for one instance whose instance profile carries ``role_name``.

    ``clock`` (a callable returning an aware UTC datetime) is for tests that need time to pass.
    ``hop_limit`` sets the IP TTL of token responses, as the instance's metadata hop limit does.
    """

    def __init__(self, secret: str, account_id: str, role_name: str, instance_id: str, availability_zone: str, *,
                 host: str = "127.0.0.1", port: int = 0, require_token: bool = True, ttl_seconds: int = 3600,
                 hop_limit: int | None = None, clock: Callable[[], dt.datetime] | None = None,
                 log_requests: bool = False) -> None:
        if not isinstance(secret, (str, bytes)) or not secret:
            raise ValueError("secret: aws.credential_secret must be a non-empty string")
        if not isinstance(account_id, str) or not _ACCOUNT_RE.fullmatch(account_id):
            raise ValueError(f"account_id: must be 12 digits, got {account_id!r}")
        if not isinstance(role_name, str) or not _ROLE_RE.fullmatch(role_name):
            raise ValueError(f"role_name: must be 1-64 characters of [A-Za-z0-9+=,.@_-], got {role_name!r}")
        if not isinstance(instance_id, str) or not _INSTANCE_RE.fullmatch(instance_id):
            raise ValueError(f"instance_id: must look like 'i-0123456789abcdef0', got {instance_id!r}")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= 43200:
            raise ValueError(f"ttl_seconds: must be an integer from 1 to 43200, got {ttl_seconds!r}")
        if hop_limit is not None and (isinstance(hop_limit, bool) or not isinstance(hop_limit, int) or not 1 <= hop_limit <= 64):
            raise ValueError(f"hop_limit: must be an integer from 1 to 64, got {hop_limit!r}")
        self.region = region_of(availability_zone)
        # The instance's partition follows its region (cn-north-1a -> aws-cn, us-gov-west-1a ->
        # aws-us-gov): its role credentials and ARNs are that partition's.
        self.partition = partition_of_region(self.region)
        if self.partition is None:
            raise ValueError(f"availability_zone: {availability_zone!r} is in no AWS partition (botocore's partitions.json)")
        self.secret = secret
        self.account_id = account_id
        self.role_name = role_name
        self.instance_id = instance_id
        self.availability_zone = availability_zone
        self.host = host
        self.port = port
        self.require_token = require_token
        self.ttl_seconds = ttl_seconds
        self.hop_limit = hop_limit
        self.log_requests = log_requests
        self._clock = clock or (lambda: _utcnow(None))
        # Session tokens are sealed with a per-server key: tokens of another instance do not work.
        self._token_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._credentials: dict[str, str] | None = None
        self._credentials_expire: dt.datetime | None = None
        self._started = self._clock().replace(microsecond=0)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> MetadataServer:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"imds": self})
        self._httpd = bind_http(self.host, self.port, handler)
        self.port = self._httpd.server_address[1]
        self._thread = serve_in_thread(self._httpd, f"imds-{self.instance_id}")
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        shut_down(self._httpd, self._thread, join_timeout=10)
        self._httpd = None
        self._thread = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> MetadataServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ session tokens

    def issue_token(self, ttl: int) -> str:
        expires = int(self._clock().timestamp()) + ttl
        body = b"\x01" + expires.to_bytes(8, "big") + secrets.token_bytes(16)
        mac = hmac.new(self._token_key, body, hashlib.sha256).digest()
        return base64.b64encode(body + mac).decode("ascii")

    def token_valid(self, token: str) -> bool:
        try:
            raw = base64.b64decode(token.strip().encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            return False
        body, mac = raw[:-32], raw[-32:]
        if len(body) != 25 or not hmac.compare_digest(mac, hmac.new(self._token_key, body, hashlib.sha256).digest()):
            return False
        return int.from_bytes(body[1:9], "big") > self._clock().timestamp()

    # ------------------------------------------------------------------ metadata

    def refresh_window(self) -> dt.timedelta:
        """How long before the old credentials expire the new ones are served."""
        return dt.timedelta(seconds=min(REFRESH_BEFORE_SECONDS, self.ttl_seconds * REFRESH_BEFORE_FRACTION))

    def role_credentials(self) -> dict[str, str]:
        """The instance role's current credentials, renewed once less than refresh_window() of
        them is left (and so never served expired); Expiration is their exact expiry."""
        now = self._clock()
        refresh_window = self.refresh_window()
        with self._lock:
            if self._credentials is None or self._credentials_expire is None or now > self._credentials_expire - refresh_window:
                self._credentials = mint_credentials(self.secret, self.account_id, self.role_name, self.instance_id, self.ttl_seconds, now=now,
                                                     partition=self.partition)
                self._credentials_expire = dt.datetime.strptime(self._credentials["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            return dict(self._credentials)

    def identity_document(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.instance_id.encode()).digest()
        return {
            "accountId": self.account_id,
            "architecture": "x86_64",
            "availabilityZone": self.availability_zone,
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": self.image_id,
            "instanceId": self.instance_id,
            "instanceType": "t3.micro",
            "kernelId": None,
            "pendingTime": self._started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "privateIp": f"10.0.{digest[0]}.{digest[1] % 250 + 4}",
            "ramdiskId": None,
            "region": self.region,
            "version": "2017-09-30",
        }

    @property
    def image_id(self) -> str:
        return "ami-" + hashlib.sha256(f"ami:{self.instance_id}".encode()).hexdigest()[:17]

    def iam_info(self) -> dict[str, str]:
        return {
            "Code": "Success",
            "LastUpdated": self.role_credentials()["LastUpdated"],
            "InstanceProfileArn": f"arn:{self.partition}:iam::{self.account_id}:instance-profile/{self.role_name}",
            "InstanceProfileId": instance_profile_id(self.account_id, self.role_name),
        }

    def lookup(self, path: str) -> tuple[int, str] | None:
        """(status, body) for a GET of ``path``, or None when the path does not exist."""
        path = path.rstrip("/") or "/"
        creds_prefix = "/latest/meta-data/iam/security-credentials/"
        if path.startswith(creds_prefix):
            if path[len(creds_prefix):] != self.role_name:
                return None
            return 200, json.dumps(self.role_credentials(), indent=2)
        pages: dict[str, Callable[[], str]] = {
            "/": lambda: "latest",
            "/latest": lambda: "dynamic\nmeta-data",
            "/latest/meta-data": lambda: "ami-id\niam/\ninstance-id\ninstance-type\nplacement/",
            "/latest/meta-data/ami-id": lambda: self.image_id,
            "/latest/meta-data/instance-id": lambda: self.instance_id,
            "/latest/meta-data/instance-type": lambda: "t3.micro",
            "/latest/meta-data/iam": lambda: "info\nsecurity-credentials/",
            "/latest/meta-data/iam/info": lambda: json.dumps(self.iam_info(), indent=2),
            "/latest/meta-data/iam/security-credentials": lambda: self.role_name,
            "/latest/meta-data/placement": lambda: "availability-zone\nregion",
            "/latest/meta-data/placement/availability-zone": lambda: self.availability_zone,
            "/latest/meta-data/placement/region": lambda: self.region,
            "/latest/dynamic": lambda: "instance-identity/",
            "/latest/dynamic/instance-identity": lambda: "document",
            "/latest/dynamic/instance-identity/document": lambda: json.dumps(self.identity_document(), indent=2),
        }
        page = pages.get(path)
        return None if page is None else (200, page())


class _Handler(BaseHTTPRequestHandler):
    imds: MetadataServer
    server_version = "EC2ws"
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK hold every answer back by ~40 ms.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.imds.log_requests:
            sys.stderr.write("imds %s %s\n" % (self.address_string(), format % args))

    def _send(self, status: int, body: str, content_type: str = "text/plain", extra: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_html(self, status: int, reason: str) -> None:
        self._send(status, _HTML.format(status=status, reason=reason), "text/html")

    def _drain(self) -> None:
        # Read any request body so a kept-alive connection stays in step.
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(min(int(length), _MAX_BODY))

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def do_PUT(self) -> None:
        self._drain()
        if self._path() != TOKEN_PATH:
            self._send_html(405, "Method Not Allowed")
            return
        # Real IMDS refuses token requests that went through a proxy.
        if self.headers.get("X-Forwarded-For") is not None:
            self._send_html(403, "Forbidden")
            return
        raw_ttl = (self.headers.get(TTL_HEADER) or "").strip()
        if not raw_ttl.isdigit() or not 1 <= int(raw_ttl) <= MAX_TOKEN_TTL:
            self._send_html(400, "Bad Request")
            return
        if self.imds.hop_limit is not None:
            self._set_hop_limit(self.imds.hop_limit)
        ttl = int(raw_ttl)
        self._send(200, self.imds.issue_token(ttl), extra={TTL_HEADER: str(ttl)})

    def _set_hop_limit(self, hops: int) -> None:
        # The token answer leaves with this IP TTL, so it dies after `hops` routers, as on EC2.
        if self.connection.family == socket.AF_INET6:
            self.connection.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
        else:
            self.connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)

    def do_GET(self) -> None:
        self._drain()
        path = self._path()
        if path == TOKEN_PATH:
            self._send_html(405, "Method Not Allowed")
            return
        token = self.headers.get(TOKEN_HEADER)
        if token is not None and not self.imds.token_valid(token):
            self._send_html(401, "Unauthorized")
            return
        if token is None and self.imds.require_token:
            self._send_html(401, "Unauthorized")
            return
        answer = self.imds.lookup(path)
        if answer is None:
            self._send_html(404, "Not Found")
            return
        status, body = answer
        self._send(status, body)

    do_HEAD = do_GET

    def _not_allowed(self) -> None:
        self._drain()
        self._send_html(405, "Method Not Allowed")

    do_POST = do_DELETE = do_PATCH = _not_allowed


# --------------------------------------------------------------------------- CLI


def _load_aws_config(path: str) -> tuple[str, int, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as err:
        raise SystemExit(f"--config: cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SystemExit(f"--config: {path} is not valid YAML: {err}") from None
    aws = config.get("aws") if isinstance(config, dict) else None
    if not isinstance(aws, dict):
        raise SystemExit(f"--config: {path} has no 'aws' mapping")
    secret = aws.get("credential_secret")
    if not isinstance(secret, str) or not secret:
        raise SystemExit(f"--config: aws.credential_secret in {path} must be a non-empty string")
    ttl = aws.get("credential_ttl_seconds", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 43200:
        raise SystemExit(f"--config: aws.credential_ttl_seconds in {path} must be an integer from 1 to 43200, got {ttl!r}")
    return secret, ttl, aws


def _warn_unknown_role(aws: dict[str, Any], account_id: str, role: str) -> None:
    accounts = aws.get("accounts") or []
    for account in accounts if isinstance(accounts, list) else []:
        if isinstance(account, dict) and str(account.get("id")) == account_id:
            if role not in (account.get("roles") or []):
                sys.stderr.write(f"imds: warning: role {role!r} is not listed under account {account_id} in the config\n")
            return
    if accounts:
        sys.stderr.write(f"imds: warning: account {account_id} is not listed under aws.accounts in the config\n")


def main_imds(argv: list[str] | None = None) -> int:
    """``python -m wif_emulator imds --config FILE --listen HOST:PORT ...``; runs until SIGTERM/SIGINT.

    ``argv`` are the arguments after ``imds`` (a leading ``imds`` is tolerated).
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["imds"]:
        args_in = args_in[1:]
    parser = argparse.ArgumentParser(prog="python -m wif_emulator imds", description="Serve IMDSv2 for one emulated EC2 instance.")
    parser.add_argument("--config", required=True, help="emulator YAML config (reads aws.credential_secret, aws.credential_ttl_seconds)")
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0), help="HOST:PORT, e.g. 169.254.169.254:80 inside a host's namespace")
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--role", required=True, help="the instance profile's role name")
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--availability-zone", required=True)
    parser.add_argument("--no-require-token", action="store_true", help="also answer IMDSv1 GETs without a session token")
    parser.add_argument("--hop-limit", type=int, default=None, help="IP TTL of token answers (1-64), like the instance's hop limit")
    args = parser.parse_args(args_in)

    secret, ttl, aws = _load_aws_config(args.config)
    _warn_unknown_role(aws, args.account_id, args.role)
    host, port = args.listen
    try:
        server = MetadataServer(secret, args.account_id, args.role, args.instance_id, args.availability_zone,
                                host=host, port=port, require_token=not args.no_require_token, ttl_seconds=ttl,
                                hop_limit=args.hop_limit, log_requests=True)
    except ValueError as err:
        parser.error(str(err))
    code = serve_until_signalled(server, "imds", (host, port),
                                 banner=f"imds listening on {{base_url}} for {args.instance_id} (role {args.role})")
    if code == 0:
        print("imds stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main_imds())
