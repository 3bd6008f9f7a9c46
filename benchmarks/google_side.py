"""Benchmark: the Google-side set-up (benchmarks/google_side.yml) run twice against the emulator.

Prints, for the second (no-op) run, the emulator's read and write request counts (target: one
read per resource or policy, zero writes) and its wall time next to the same number of
ansible.builtin.ping tasks.  Starts the emulator in-process on 127.0.0.1 and stops by itself.

    .venv/bin/python benchmarks/google_side.py [--runs-of-ping N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "emulator"))

from wif_emulator.server import EmulatorServer  # noqa: E402

TOKEN = "benchmark-admin-token"
CONFIG = {
    "admin_tokens": [TOKEN],
    "projects": [{"id": "wif-sandbox", "number": "123456789012", "services": ["iam.googleapis.com"]}],
    "aws": {"credential_secret": "benchmark-secret", "credential_ttl_seconds": 3600,
            "accounts": [{"id": "111111111111", "roles": ["wif-bound-role"]}]},
    "operations": {"polls_before_done": 0},
}
PLAYBOOK = ROOT / "benchmarks" / "google_side.yml"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))


def admin(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/_emulator/" + path, data=data, method=method,  # noqa: S310 - loopback
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read() or b"{}")


def run(playbook: Path, workdir: Path, extra: list[str]) -> float:
    inventory = workdir / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(workdir / "collections"), ANSIBLE_HOME=str(workdir / "home"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    start = time.monotonic()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *extra], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("ansible-playbook %s failed (rc=%d)" % (playbook.name, proc.returncode))
    return elapsed


def task_count(playbook: Path) -> int:
    import yaml  # noqa: PLC0415 - only needed here

    return sum(len(play.get("tasks", [])) for play in yaml.safe_load(playbook.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    tasks = task_count(PLAYBOOK)
    with tempfile.TemporaryDirectory(prefix="keyless-bench-") as tmp:
        workdir = Path(tmp)
        link = workdir / "collections" / "ansible_collections" / "keyless" / "wif"
        link.parent.mkdir(parents=True)
        link.symlink_to(ROOT)
        server = EmulatorServer(CONFIG).start()
        try:
            base = server.base_url
            extra = ["-e", "gcp_endpoint=%s" % base, "-e", "gcp_access_token=%s" % TOKEN]
            first = run(PLAYBOOK, workdir, extra)
            first_stats = admin(base, "GET", "stats")["totals"]
            admin(base, "POST", "reset", {})  # counters only; the state stays
            second = run(PLAYBOOK, workdir, extra)
            stats = admin(base, "GET", "stats")
        finally:
            server.stop()
        pings = workdir / "ping.yml"
        pings.write_text(json.dumps([{"name": "ping", "hosts": "localhost", "gather_facts": False,
                                      "tasks": [{"ansible.builtin.ping": {}} for _unused1 in range(tasks)]}]))
        ping_time = run(pings, workdir, [])

    totals = stats["totals"]
    print("Google-side set-up: %d tasks (benchmarks/google_side.yml)" % tasks)
    print("  first run : %6.2f s  reads=%d writes=%d" % (first, first_stats.get("read", 0), first_stats.get("write", 0)))
    print("  second run: %6.2f s  reads=%d writes=%d   <- no-op run"
          % (second, totals.get("read", 0), totals.get("write", 0)))
    print("  %d x ansible.builtin.ping: %6.2f s" % (tasks, ping_time))
    print("  second-run reads by API method:")
    for key, route in stats["routes"].items():
        print("    %-60s %3d  %s" % (key, route["count"], route["status"]))
    ok = totals.get("write", 0) == 0
    print("RESULT: %s (no-op run wrote %d times)" % ("ok" if ok else "FAIL", totals.get("write", 0)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
