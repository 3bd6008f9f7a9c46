"""Control-plane auth, Service Usage, the /_emulator admin surface, faults, persistence, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import googleapiclient.discovery
import httplib2
import pytest
import yaml
from conftest import ADMIN_TOKEN, POOL, POOL_PATH, PROJECT_ID, PROJECT_NUMBER, Sandbox, build_client, make_config
from googleapiclient.errors import HttpError
from wif_emulator.config import ConfigError, load_config
from wif_emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
PARENT = f"projects/{PROJECT_ID}/locations/global"


def _admin(base_url: str, method: str, path: str, body: dict | None = None) -> dict:
    """The emulator's own admin surface (not a Google API, so plain HTTP)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base_url + path, data=data, method=method,  # noqa: S310 - loopback emulator
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback emulator
        return json.loads(resp.read())


def _error(info: pytest.ExceptionInfo[HttpError]) -> dict:
    return json.loads(info.value.content)["error"]


@pytest.mark.parametrize("token", [None, "not-the-admin-token"])
def test_control_plane_needs_admin_token(emulator, token):
    for api, call in (
        ("iam", lambda c: c.projects().locations().workloadIdentityPools().list(parent=PARENT)),
        ("cloudresourcemanager", lambda c: c.projects().get(projectId=PROJECT_ID)),
        ("serviceusage", lambda c: c.services().get(name=f"projects/{PROJECT_ID}/services/iam.googleapis.com")),
    ):
        # A plain httplib2 client: google-auth would try to refresh on 401, hiding the answer.
        client = googleapiclient.discovery.build(api, "v1", static_discovery=True, http=httplib2.Http(),
                                                 client_options={"api_endpoint": emulator.base_url})
        request = call(client)
        if token:
            request.headers["authorization"] = f"Bearer {token}"
        with pytest.raises(HttpError) as info:
            request.execute()
        err = _error(info)
        assert (err["code"], err["status"]) == (401, "UNAUTHENTICATED"), api


def test_service_usage_enable_disable_batch(sandbox):
    svc = sandbox.su.services()
    name = f"projects/{PROJECT_ID}/services/aiplatform.googleapis.com"
    got = svc.get(name=name).execute()
    assert (got["state"], got["name"]) == ("DISABLED", f"projects/{PROJECT_NUMBER}/services/aiplatform.googleapis.com")
    op = svc.enable(name=name, body={}).execute()
    assert op["name"].startswith("operations/")
    assert op["done"] is True
    assert op["response"]["service"]["state"] == "ENABLED"
    assert sandbox.su.operations().get(name=op["name"]).execute()["done"] is True
    assert svc.get(name=name).execute()["state"] == "ENABLED"
    svc.disable(name=name, body={}).execute()
    assert svc.get(name=name).execute()["state"] == "DISABLED"
    sandbox.enable_services(["aiplatform.googleapis.com", "sts.googleapis.com"])
    enabled = svc.list(parent=f"projects/{PROJECT_ID}", filter="state:ENABLED").execute()["services"]
    assert {s["config"]["name"] for s in enabled} == {"iam.googleapis.com", "aiplatform.googleapis.com",
                                                       "sts.googleapis.com"}
    with pytest.raises(HttpError) as info:
        svc.enable(name=f"projects/{PROJECT_ID}/services/nosuch.googleapis.com", body={}).execute()
    assert "Not found or permission denied" in _error(info)["message"]


def test_fault_status_then_recovery_and_stats(emulator, sandbox):
    rule = _admin(emulator.base_url, "POST", "/_emulator/faults",
                  {"route": "iam.projects.locations.workloadIdentityPools.create", "status": 503, "count": 2})
    assert rule["remaining"] == 2
    for _ in range(2):
        with pytest.raises(HttpError) as info:
            sandbox.create_pool()
        assert _error(info)["status"] == "UNAVAILABLE"
    sandbox.create_pool()  # the third call goes through
    stats = _admin(emulator.base_url, "GET", "/_emulator/stats")
    create = stats["routes"]["POST iam.projects.locations.workloadIdentityPools.create"]
    assert create["count"] == 3
    assert create["status"] == {"503": 2, "200": 1}
    assert create["kind"] == "write"
    sandbox.pools.get(name=POOL_PATH).execute()
    stats = _admin(emulator.base_url, "GET", "/_emulator/stats")
    assert stats["totals"]["read"] >= 1
    assert stats["totals"]["write"] == 3
    _admin(emulator.base_url, "POST", "/_emulator/reset", {})
    assert _admin(emulator.base_url, "GET", "/_emulator/stats")["totals"] == {"all": 0}


def test_fault_path_regex_method_429_and_clear(emulator, sandbox):
    _admin(emulator.base_url, "POST", "/_emulator/faults",
           {"method": "GET", "path": r"/services/iam\.googleapis\.com$", "status": 429, "count": 5})
    svc = sandbox.su.services()
    with pytest.raises(HttpError) as info:
        svc.get(name=f"projects/{PROJECT_ID}/services/iam.googleapis.com").execute()
    assert _error(info)["status"] == "RESOURCE_EXHAUSTED"
    svc.get(name=f"projects/{PROJECT_ID}/services/sts.googleapis.com").execute()  # not matched
    assert _admin(emulator.base_url, "DELETE", "/_emulator/faults") == {"cleared": 1}
    svc.get(name=f"projects/{PROJECT_ID}/services/iam.googleapis.com").execute()


def test_fault_latency(emulator, sandbox):
    _admin(emulator.base_url, "POST", "/_emulator/faults",
           {"route": "cloudresourcemanager.projects.get", "latency_ms": 400})
    t0 = time.monotonic()
    sandbox.crm.projects().get(projectId=PROJECT_ID).execute()
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    sandbox.crm.projects().get(projectId=PROJECT_ID).execute()
    assert time.monotonic() - t0 < 0.4


def test_fault_forced_etag_conflict(emulator, sandbox):
    _admin(emulator.base_url, "POST", "/_emulator/faults", {"etag_conflict": True})
    projects = sandbox.crm.projects()
    policy = projects.getIamPolicy(resource=PROJECT_ID, body={}).execute()
    with pytest.raises(HttpError) as info:
        projects.setIamPolicy(resource=PROJECT_ID, body={"policy": policy}).execute()
    assert _error(info)["status"] == "ABORTED"
    projects.setIamPolicy(resource=PROJECT_ID, body={"policy": policy}).execute()  # retry works


def test_fault_slow_operation(emulator, sandbox):
    _admin(emulator.base_url, "POST", "/_emulator/faults",
           {"route": "iam.projects.locations.workloadIdentityPools.create", "slow_operation_polls": 3})
    op = sandbox.pools.create(parent=PARENT, workloadIdentityPoolId=POOL, body={}).execute()
    assert op["done"] is False
    ops = sandbox.pools.operations()
    assert [ops.get(name=op["name"]).execute()["done"] for _ in range(4)] == [False, False, False, True]
    # Only the next operation was slow.
    op2 = sandbox.pools.delete(name=POOL_PATH).execute()
    assert op2["done"] is True


@pytest.mark.parametrize(("rule", "words"), [
    ({"status": 404}, "429, 500 or 503"),
    ({"status": 503, "latency_ms": 5}, "exactly one"),
    ({"route": "no.such.route", "status": 503}, "unknown route"),
    ({"path": "(", "status": 503}, "regular expression"),
])
def test_fault_rule_validation(emulator, rule, words):
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emulator.base_url, "POST", "/_emulator/faults", rule)
    assert info.value.code == 400
    assert words in json.loads(info.value.read())["error"]["message"]


def test_reset_state_and_state_dump(emulator, sandbox):
    sandbox.create_pool()
    assert POOL_PATH in _admin(emulator.base_url, "GET", "/_emulator/state")["pools"]
    _admin(emulator.base_url, "POST", "/_emulator/reset", {"state": True})
    assert _admin(emulator.base_url, "GET", "/_emulator/state")["pools"] == {}


def test_mint_aws_credentials_admin(emulator):
    creds = _admin(emulator.base_url, "POST", "/_emulator/aws/credentials",
                   {"account_id": "111111111111", "role_name": "wif-bound-role", "session_name": "i-0abc12345"})
    assert creds["AccessKeyId"].startswith("ASIA")
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emulator.base_url, "POST", "/_emulator/aws/credentials",
               {"account_id": "111111111111", "role_name": "not-configured"})
    assert info.value.code == 400


def test_state_persists_across_restart(tmp_path):
    state_file = tmp_path / "state.json"
    srv = EmulatorServer(make_config(), state_file=str(state_file)).start()
    try:
        sb = Sandbox(srv.base_url)
        sb.create_pool(displayName="survivor")
        sa = sb.create_sa()
        sb.add_sa_binding("user:someone@example.com", role="roles/iam.serviceAccountUser")
    finally:
        srv.stop()
    assert state_file.exists()
    srv2 = EmulatorServer(make_config(), state_file=str(state_file)).start()
    try:
        sb2 = Sandbox(srv2.base_url)
        assert sb2.pools.get(name=POOL_PATH).execute()["displayName"] == "survivor"
        got = sb2.iam.projects().serviceAccounts().get(name=f"projects/-/serviceAccounts/{sa['email']}").execute()
        assert got["uniqueId"] == sa["uniqueId"]
        policy = sb2.iam.projects().serviceAccounts().getIamPolicy(resource=got["name"]).execute()
        assert policy["bindings"][0]["members"] == ["user:someone@example.com"]
    finally:
        srv2.stop()


def test_unknown_path_is_google_404(emulator):
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emulator.base_url, "GET", "/v1/nothing/here")
    body = json.loads(info.value.read())
    assert body["error"]["code"] == 404
    assert body["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(("patch", "words"), [
    ({"admin_tokens": []}, "admin_tokens"),
    ({"projects": [{"id": "wif-sandbox", "number": "123"}]}, "projects[0].number"),
    ({"projects": [{"id": "X", "number": "123456789012"}]}, "projects[0].id"),
    ({"aws": {"credential_secret": "short"}}, "aws.credential_secret"),
    ({"operations": {"polls_before_done": -1}}, "operations.polls_before_done"),
    ({"surprise": 1}, "unknown key"),
])
def test_config_validation_names_the_field(patch, words):
    with pytest.raises(ConfigError) as info:
        load_config(make_config(**patch))
    assert words in str(info.value)


def test_cli_serve_prints_base_url_and_stops_on_sigterm(tmp_path):
    cfg = tmp_path / "emu.yml"
    cfg.write_text(yaml.safe_dump(make_config()))
    env = dict(os.environ, PYTHONPATH=str(REPO / "emulator"))
    proc = subprocess.Popen([sys.executable, "-m", "wif_emulator", "serve", "--config", str(cfg),
                             "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        crm = build_client(base_url, "cloudresourcemanager", "v1", ADMIN_TOKEN)
        assert crm.projects().get(projectId=PROJECT_ID).execute()["projectId"] == PROJECT_ID
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_cli_bad_config_exits_with_message(tmp_path):
    cfg = tmp_path / "emu.yml"
    cfg.write_text(yaml.safe_dump(make_config(admin_tokens=[])))
    env = dict(os.environ, PYTHONPATH=str(REPO / "emulator"))
    res = subprocess.run([sys.executable, "-m", "wif_emulator", "serve", "--config", str(cfg)],
                         capture_output=True, text=True, env=env, timeout=30, check=False)
    assert res.returncode == 2
    assert "admin_tokens" in res.stderr


def test_cli_imds_subcommand_dispatches(tmp_path):
    cfg = tmp_path / "emu.yml"
    cfg.write_text(yaml.safe_dump(make_config()))
    env = dict(os.environ, PYTHONPATH=str(REPO / "emulator"))
    proc = subprocess.Popen([sys.executable, "-m", "wif_emulator", "imds", "--config", str(cfg),
                             "--listen", "127.0.0.1:0", "--account-id", "111111111111", "--role", "wif-bound-role",
                             "--instance-id", "i-0123456789abcdef0", "--availability-zone", "us-east-1a"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        req = urllib.request.Request(url.group(0) + "/latest/api/token", method="PUT",  # noqa: S310 - loopback
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
