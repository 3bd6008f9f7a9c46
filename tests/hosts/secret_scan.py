"""Grep an ansible-playbook -vvv log of the sandbox for every secret the run handled.

Usage: secret_scan.py LOG EMULATOR_URL MASTER_KEY HOST [HOST ...]

LOG may be a directory (an ansible-runner artifacts directory): then every file under it is read.

The secrets: the emulator's admin tokens, the proxy master key, every access token the
emulator issued (federated and service-account tokens, from its state), and each host's
AWS instance credentials (asked of the host's own metadata service, inside its namespace,
through wifhost exec; the emulator keeps them until they expire, so they are the ones
the run used). Any session token the emulator mints is also matched by its fixed prefix.
Prints one line per kind with its count of hits; exits 1 on any hit.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMDS = ("T=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) && "
        "R=$(curl -sS -H \"X-aws-ec2-metadata-token: $T\" http://169.254.169.254/latest/meta-data/iam/security-credentials/) && "
        "curl -sS -H \"X-aws-ec2-metadata-token: $T\" http://169.254.169.254/latest/meta-data/iam/security-credentials/$R")
# Every session token the emulator mints starts with base64("wifemu-sts-v1\0...").
SESSION_TOKEN_PREFIX = base64.b64encode(b"wifemu-sts-v1\x00")[:16].decode()


def host_credentials(host: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, str(HERE / "wifhost"), "exec", host, "sh", "-c", IMDS],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def main(argv: list[str]) -> int:
    log_path, emulator_url, master_key, *hosts = argv
    files = sorted(p for p in Path(log_path).rglob("*") if p.is_file()) if Path(log_path).is_dir() else [Path(log_path)]
    if not files:
        print("secret scan: no file to scan in %s" % log_path)
        return 1
    logs = [f.read_text(errors="replace") for f in files]
    with urllib.request.urlopen(emulator_url.rstrip("/") + "/_emulator/state", timeout=10) as resp:  # noqa: S310
        state = json.load(resp)
    secrets: dict[str, list[str]] = {
        "admin token": ["sandbox-admin-token"],
        "master key": [master_key],
        "access tokens": list(state.get("tokens", {})),
        "aws secret keys": [],
        "aws session tokens": [SESSION_TOKEN_PREFIX],
    }
    for host in hosts:
        creds = host_credentials(host)
        secrets["aws secret keys"].append(creds["SecretAccessKey"])
        secrets["aws session tokens"].append(creds["Token"])
    if not secrets["access tokens"]:
        print("secret scan: the emulator issued no access token; nothing ran?")
        return 1
    total = 0
    for kind, values in secrets.items():
        hits = sum(log.count(v) for log in logs for v in values if v)
        total += hits
        where = log_path if len(files) == 1 else "%d files under %s" % (len(files), log_path)
        print("secret scan: %-18s %3d value(s), %d hit(s) in %s" % (kind, len(values), hits, where))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
