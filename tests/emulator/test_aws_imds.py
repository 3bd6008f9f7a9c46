"""The emulated EC2 instance metadata service (IMDSv2), on loopback only."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from wif_emulator.aws import verify_signed_request
from wif_emulator.imds import MetadataServer

SECRET = "sandbox-credential-secret"
ACCOUNT = "111111111111"
ROLE = "wif-bound-role"
INSTANCE = "i-0123456789abcdef0"
AZ = "us-east-1a"
EMULATOR_DIR = Path(__file__).resolve().parents[2] / "emulator"


class Clock:
    """A settable clock, so tests can let hours pass instantly."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def imds(clock):
    server = MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE, AZ, host="127.0.0.1", port=0, ttl_seconds=3600, clock=clock).start()
    yield server
    server.stop()


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False
        yield session


def _token(http, md: MetadataServer, ttl: str = "300") -> str:
    answer = http.put(f"{md.base_url}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-aws-ec2-metadata-token-ttl-seconds"] == ttl
    return answer.text


def _get(http, md: MetadataServer, path: str, token: str | None = None) -> requests.Response:
    headers = {"X-aws-ec2-metadata-token": token} if token is not None else {}
    return http.get(f"{md.base_url}{path}", headers=headers, timeout=5)


# --------------------------------------------------------------------------- session tokens


def test_base_url_is_loopback_with_a_real_port(imds):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", imds.base_url)
    assert imds.port != 0


def test_session_token_unlocks_metadata(http, imds):
    token = _token(http, imds)
    answer = _get(http, imds, "/latest/meta-data/instance-id", token)
    assert (answer.status_code, answer.text) == (200, INSTANCE)
    assert answer.headers["Server"] == "EC2ws"


def test_get_without_token_is_401_when_required(http, imds):
    assert _get(http, imds, "/latest/meta-data/instance-id").status_code == 401
    assert _get(http, imds, "/latest/meta-data/iam/security-credentials/").status_code == 401


@pytest.mark.parametrize("bad", ["", "garbage", "QUFBQQ==", "A" * 76])
def test_get_with_a_bad_token_is_401(http, imds, bad):
    assert _get(http, imds, "/latest/meta-data/instance-id", bad).status_code == 401


def test_token_of_another_instance_is_401(http, imds):
    with MetadataServer(SECRET, ACCOUNT, ROLE, "i-0fedcba9876543210", AZ) as other:
        foreign = _token(http, other)
    assert _get(http, imds, "/latest/meta-data/instance-id", foreign).status_code == 401


def test_token_expires_after_its_ttl(http, imds, clock):
    token = _token(http, imds, ttl="60")
    clock.advance(59)
    assert _get(http, imds, "/latest/meta-data/instance-id", token).status_code == 200
    clock.advance(1)
    assert _get(http, imds, "/latest/meta-data/instance-id", token).status_code == 401


@pytest.mark.parametrize("ttl", ["0", "21601", "-5", "abc", "1.5", ""])
def test_token_ttl_out_of_range_is_400(http, imds, ttl):
    answer = http.put(f"{imds.base_url}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl}, timeout=5)
    assert answer.status_code == 400


def test_token_ttl_bounds_are_accepted(http, imds):
    assert _token(http, imds, ttl="1")
    assert _token(http, imds, ttl="21600")


def test_token_put_without_ttl_is_400(http, imds):
    assert http.put(f"{imds.base_url}/latest/api/token", timeout=5).status_code == 400


def test_token_put_through_a_proxy_is_403(http, imds):
    answer = http.put(f"{imds.base_url}/latest/api/token",
                      headers={"X-aws-ec2-metadata-token-ttl-seconds": "300", "X-Forwarded-For": "10.1.2.3"}, timeout=5)
    assert answer.status_code == 403


def test_token_path_refuses_get(http, imds):
    assert _get(http, imds, "/latest/api/token").status_code == 405


def test_imdsv1_allowed_when_tokens_are_optional(http, clock):
    with MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE, AZ, require_token=False, clock=clock) as md:
        assert _get(http, md, "/latest/meta-data/instance-id").text == INSTANCE
        # A token that is present must still be valid, as on EC2.
        assert _get(http, md, "/latest/meta-data/instance-id", "garbage").status_code == 401
        assert _get(http, md, "/latest/meta-data/instance-id", _token(http, md)).status_code == 200


def test_hop_limit_is_validated_and_served(http):
    for bad in (0, 65):
        with pytest.raises(ValueError, match="hop_limit"):
            MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE, AZ, hop_limit=bad)
    with MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE, AZ, hop_limit=1) as md:
        # Loopback never decrements the TTL, so a limit of 1 still reaches a local caller.
        assert _get(http, md, "/latest/meta-data/instance-id", _token(http, md)).text == INSTANCE


# --------------------------------------------------------------------------- metadata


def test_placement_and_identity_document(http, imds):
    token = _token(http, imds)
    assert _get(http, imds, "/latest/meta-data/placement/availability-zone", token).text == AZ
    assert _get(http, imds, "/latest/meta-data/placement/region", token).text == "us-east-1"
    doc = _get(http, imds, "/latest/dynamic/instance-identity/document", token).json()
    assert doc["accountId"] == ACCOUNT
    assert doc["region"] == "us-east-1"
    assert doc["availabilityZone"] == AZ
    assert doc["instanceId"] == INSTANCE
    assert doc["imageId"].startswith("ami-")
    assert doc["version"] == "2017-09-30"


def test_iam_info_names_the_instance_profile(http, imds):
    info = _get(http, imds, "/latest/meta-data/iam/info", _token(http, imds)).json()
    assert info["Code"] == "Success"
    assert info["InstanceProfileArn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/{ROLE}"
    assert re.fullmatch(r"AIPA[A-Z2-7]{16}", info["InstanceProfileId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["LastUpdated"])


@pytest.mark.parametrize("path", ["/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials"])
def test_security_credentials_lists_the_role(http, imds, path):
    assert _get(http, imds, path, _token(http, imds)).text == ROLE


def test_role_credentials_sign_requests_as_the_instance(http, imds):
    creds = _get(http, imds, f"/latest/meta-data/iam/security-credentials/{ROLE}", _token(http, imds)).json()
    assert creds["Code"] == "Success" and creds["Type"] == "AWS-HMAC"
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    request = AWSRequest(method="POST", url="https://sts.us-east-1.amazonaws.com/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]), "sts", "us-east-1").add_auth(request)
    headers = {**dict(request.headers.items()), "Host": "sts.us-east-1.amazonaws.com"}
    # The verifier's clock is the instance's clock: both are the fixture's clock.
    ident = verify_signed_request(SECRET, "POST", request.url, headers, request.body, now=dt.datetime.now(dt.UTC))
    assert ident.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE}"


def test_other_role_is_404(http, imds):
    token = _token(http, imds)
    assert _get(http, imds, "/latest/meta-data/iam/security-credentials/admin-role", token).status_code == 404
    assert _get(http, imds, "/latest/meta-data/no-such-thing", token).status_code == 404


def test_credentials_are_cached_then_renewed_before_expiry(http, imds, clock):
    path = f"/latest/meta-data/iam/security-credentials/{ROLE}"
    first = _get(http, imds, path, _token(http, imds)).json()
    clock.advance(600)
    assert _get(http, imds, path, _token(http, imds)).json() == first
    # Within five minutes of expiry the instance hands out new credentials.
    clock.advance(3600 - 600 - 299)
    renewed = _get(http, imds, path, _token(http, imds)).json()
    assert renewed["AccessKeyId"] != first["AccessKeyId"]
    assert renewed["Expiration"] > first["Expiration"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"account_id": "1234"}, "account_id"),
        ({"role_name": "no/slashes"}, "role_name"),
        ({"instance_id": "host-1"}, "instance_id"),
        ({"availability_zone": "us-east-1"}, "availability_zone"),
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"secret": ""}, "secret"),
    ],
)
def test_bad_construction_names_the_field(kwargs, field):
    args = {"secret": SECRET, "account_id": ACCOUNT, "role_name": ROLE, "instance_id": INSTANCE, "availability_zone": AZ} | kwargs
    with pytest.raises(ValueError, match=field):
        MetadataServer(**args)


# --------------------------------------------------------------------------- CLI


def _cli(tmp_path: Path, config: str, *extra: str) -> subprocess.Popen:
    path = tmp_path / "emulator.yml"
    path.write_text(config)
    code = "import sys; from wif_emulator.imds import main_imds; sys.exit(main_imds(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "imds", "--config", str(path), "--listen", "127.0.0.1:0", "--account-id", ACCOUNT,
            "--role", ROLE, "--instance-id", INSTANCE, "--availability-zone", "eu-central-1c", *extra]
    env = {**os.environ, "PYTHONPATH": str(EMULATOR_DIR)}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


CONFIG = """
aws:
  credential_secret: cli-secret
  credential_ttl_seconds: 1800
  accounts:
    - id: "111111111111"
      roles: [wif-bound-role]
"""


def test_cli_serves_until_sigterm(tmp_path, http):
    proc = _cli(tmp_path, CONFIG)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = match.group(0)
        token = http.put(f"{base}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}, timeout=5).text
        creds = http.get(f"{base}/latest/meta-data/iam/security-credentials/{ROLE}", headers={"X-aws-ec2-metadata-token": token}, timeout=5).json()
        issued = dt.datetime.strptime(creds["LastUpdated"], "%Y-%m-%dT%H:%M:%SZ")
        expires = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        assert expires - issued == dt.timedelta(seconds=1800)  # ttl from the config
        assert http.get(f"{base}/latest/meta-data/placement/region", timeout=5).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_no_require_token(tmp_path, http):
    proc = _cli(tmp_path, CONFIG, "--no-require-token")
    try:
        base = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
        assert http.get(f"{base}/latest/meta-data/placement/region", timeout=5).text == "eu-central-1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("aws:\n  credential_ttl_seconds: 60\n", "aws.credential_secret"),
        ("aws:\n  credential_secret: s\n  credential_ttl_seconds: 0\n", "aws.credential_ttl_seconds"),
        ("projects: []\n", "'aws'"),
    ],
)
def test_cli_rejects_bad_config_naming_the_field(tmp_path, config, words):
    proc = _cli(tmp_path, config)
    start = time.monotonic()
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - start < 20
    assert proc.returncode != 0
    assert words in err
