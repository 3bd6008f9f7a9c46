"""Integration harness: the emulator in-process, modules run by real ansible-playbook subprocesses.

Imported by conftest.py (fixtures) and by the tests (constants, run_play); a unique module name
keeps it apart from the other test directories' conftest modules.

tests/conftest.py already links the checkout as ansible_collections/keyless/wif and exports
ANSIBLE_COLLECTIONS_PATH; this file adds the emulator, a request log, and run_play().
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from wif_emulator.server import EmulatorServer

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "sandbox-admin-token"
PROJECT_ID = "wif-sandbox"
PROJECT_NUMBER = "123456789012"
OTHER_PROJECT_ID = "wif-other"
OTHER_PROJECT_NUMBER = "210987654321"
AWS_ACCOUNT = "111111111111"
# The emulator's consistency section with every delay off (its default).
NO_DELAYS = {"service_account_visibility_seconds": 0, "iam_propagation_seconds": 0,
             "provider_propagation_seconds": 0, "service_enablement_seconds": 0}
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))

CONFIG: dict[str, Any] = {
    "admin_tokens": [ADMIN_TOKEN],
    "projects": [
        {"id": PROJECT_ID, "number": PROJECT_NUMBER, "services": ["iam.googleapis.com"]},
        {"id": OTHER_PROJECT_ID, "number": OTHER_PROJECT_NUMBER, "services": ["iam.googleapis.com"]},
    ],
    "aws": {"credential_secret": "integration-secret", "credential_ttl_seconds": 3600,
            "accounts": [{"id": AWS_ACCOUNT, "roles": ["wif-bound-role", "unlisted-role"]}]},
    "operations": {"polls_before_done": 0},
}


class Emulator:
    """An EmulatorServer plus a log of every Google request it answered."""

    def __init__(self) -> None:
        self.server = EmulatorServer(copy.deepcopy(CONFIG)).start()
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = self.server.app
        original = app.handle

        def logged(req):
            resp = original(req)
            if not req.path.startswith("/_emulator"):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.raw_path).query)
                try:
                    body = json.loads(req.body) if req.body.strip() else None
                except ValueError:
                    body = None
                with self._lock:
                    self.log.append({"t": time.time(), "method": req.method, "path": req.path, "query": query, "body": body,
                                     "status": resp.status})
            return resp

        app.handle = logged  # instance attribute shadows the method the HTTP handler calls

    @property
    def url(self) -> str:
        return self.server.base_url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator/" + path, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1 only
            return json.loads(resp.read() or b"{}")

    def reset(self) -> None:
        self.admin("POST", "reset", {"state": True})
        self.admin("DELETE", "faults")
        with self._lock:
            self.log.clear()

    def fault(self, **rule: Any) -> dict[str, Any]:
        return self.admin("POST", "faults", rule)

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")

    def state(self) -> dict[str, Any]:
        return self.admin("GET", "state")

    def writes(self) -> list[dict[str, Any]]:
        """Logged requests the emulator counts as writes (method != GET and not a getIamPolicy)."""
        with self._lock:
            return [r for r in self.log if r["method"] != "GET" and not r["path"].endswith(":getIamPolicy")]

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def during(self, record: dict[str, Any], writes_only: bool = False) -> list[dict[str, Any]]:
        """Requests answered while the task of ``record`` ran (callback timestamps, same clock)."""
        pool = self.writes() if writes_only else self.requests()
        return [r for r in pool if record["start"] <= r["t"] <= record["end"]]

    def stop(self) -> None:
        self.server.stop()


def module_defaults(emu: Emulator, **extra: Any) -> dict[str, Any]:
    defaults = {
        "project": PROJECT_ID,
        "auth_kind": "accesstoken",
        "access_token": ADMIN_TOKEN,
        "endpoints": {k: emu.url for k in ("iam", "cloudresourcemanager", "serviceusage", "sts", "iamcredentials")},
    }
    defaults.update(extra)
    return {"group/keyless.wif.gcp": defaults}


class PlayResult:
    def __init__(self, records: list[dict[str, Any]], rc: int, output: str) -> None:
        self.records = records
        self.rc = rc
        self.output = output

    def __getitem__(self, task_name: str) -> dict[str, Any]:
        matches = [r for r in self.records if r["task"] == task_name and r["status"] != "skipped"]
        if not matches:
            tasks = [r["task"] for r in self.records]
            raise KeyError("no result for task %r; tasks: %s\n%s" % (task_name, tasks, self.output[-3000:]))
        return matches[-1]

    def all(self, task_name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["task"] == task_name]


def run_play(emu: Emulator, tmp_path: Path, tasks: list[dict[str, Any]], *, defaults: dict[str, Any] | None = None,
             extra_args: tuple[str, ...] = (), timeout: int = 180, lanes: int = 1) -> PlayResult:
    """Run ``tasks`` in one ansible-playbook process; return every task's result.

    lanes > 1 runs independent tasks side by side: that many local host aliases under the
    ``free`` strategy, task i on host i % lanes (the others skip it).
    """
    hosts = ["localhost"] if lanes == 1 else ["lane%d" % i for i in range(lanes)]
    if lanes > 1:
        tasks = [dict(task, when="inventory_hostname == %r" % hosts[i % lanes]) for i, task in enumerate(tasks)]
    play = [{
        "name": "keyless.wif integration",
        "hosts": "all",
        "gather_facts": False,
        "strategy": "linear" if lanes == 1 else "free",
        "module_defaults": defaults or module_defaults(emu),
        "tasks": tasks,
    }]
    playbook = tmp_path / ("play-%d.yml" % time.monotonic_ns())
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("".join("%s ansible_connection=local ansible_python_interpreter=%s\n" % (host, sys.executable)
                                 for host in hosts))
    record = playbook.with_suffix(".json")
    env = dict(os.environ)
    env.update({
        "RECORD_RESULTS_FILE": str(record),
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "record_results",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_FORKS": str(max(5, lanes)),
    })
    if os.environ.get("KEYLESS_TEST_GCP_MODULE_PROCESSES") == "1":
        # Every module in its own process, as on a remote or become connection (scripts/test units).
        extra_args = ("-e", "keyless_wif_gcp_in_process=false", *extra_args)
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *extra_args],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    if not record.exists():
        raise AssertionError("ansible-playbook wrote no results (rc=%d):\n%s" % (proc.returncode, output[-5000:]))
    return PlayResult(json.loads(record.read_text()), proc.returncode, output)


def federation_role_task(**variables):
    """A task that includes keyless.wif.gcp_federation with these role variables."""
    return {"name": "federation", "ansible.builtin.include_role": {"name": "keyless.wif.gcp_federation"}, "vars": variables}


def changed_tasks(result):
    """Names of the tasks of one play that reported a change."""
    return [r["task"] for r in result.records if r.get("result", {}).get("changed")]


def federated_token(emu, monkeypatch, audience, role, session="i-0abc", account=AWS_ACCOUNT):
    """A real token exchange through google-auth, as a host of this account, role and session makes it."""
    import google.auth.aws
    import google.auth.exceptions
    import google.auth.transport.requests

    creds = emu.admin("POST", "aws/credentials", {"account_id": account, "role_name": role, "session_name": session})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["Token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    credentials = google.auth.aws.Credentials.from_info({
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": emu.url + "/v1/token",
        "credential_source": {
            "environment_id": "aws1",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        return "refused: %s" % exc
    return "admitted"
