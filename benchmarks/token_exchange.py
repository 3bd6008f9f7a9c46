#!/usr/bin/env python3
"""Token exchanges per second through google-auth against the emulator.

Starts the emulator and a loopback IMDS in-process (ephemeral ports), sets up pool, AWS
provider, service account and binding with googleapiclient, then runs up to --count fresh
exchanges (a new google.auth.aws.Credentials each time, refresh(): IMDSv2 -> signed
GetCallerIdentity -> STS /v1/token -> generateAccessToken), bounded by --max-seconds.

    PYTHONPATH=emulator .venv/bin/python benchmarks/token_exchange.py [--count 200] [--max-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))

import google.auth.aws
import google.auth.transport.requests
import google.oauth2.credentials
import googleapiclient.discovery
import requests
from wif_emulator.imds import MetadataServer
from wif_emulator.server import EmulatorServer

ADMIN = "bench-admin-token"
PROJECT_ID, PROJECT_NUMBER = "wif-bench", "210987654321"
ACCOUNT, ROLE = "111111111111", "wif-bound-role"
POOL, PROVIDER, SA_ID = "bench-pool", "bench-aws", "bench-sa"
SA_EMAIL = f"{SA_ID}@{PROJECT_ID}.iam.gserviceaccount.com"
POOL_PATH = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{POOL}"


def _client(base_url: str, api: str) -> Any:
    return googleapiclient.discovery.build(
        api, "v1", static_discovery=True, credentials=google.oauth2.credentials.Credentials(ADMIN),
        client_options={"api_endpoint": base_url}, cache_discovery=False)


def _wait(ops: Any, op: dict[str, Any]) -> None:
    for _ in range(50):
        if op.get("done"):
            return
        op = ops.get(name=op["name"]).execute()
    raise RuntimeError(f"operation {op['name']} did not finish")


def setup_google_side(base_url: str) -> None:
    iam, su = _client(base_url, "iam"), _client(base_url, "serviceusage")
    su.services().batchEnable(parent=f"projects/{PROJECT_ID}", body={"serviceIds": [
        "iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com"]}).execute()
    pools = iam.projects().locations().workloadIdentityPools()
    _wait(pools.operations(), pools.create(parent=f"projects/{PROJECT_ID}/locations/global",
                                           workloadIdentityPoolId=POOL, body={}).execute())
    _wait(pools.providers().operations(), pools.providers().create(
        parent=POOL_PATH, workloadIdentityPoolProviderId=PROVIDER,
        body={"aws": {"accountId": ACCOUNT}}).execute())
    sas = iam.projects().serviceAccounts()
    sas.create(name=f"projects/{PROJECT_ID}", body={"accountId": SA_ID, "serviceAccount": {}}).execute()
    member = (f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.aws_role/"
              f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}")
    resource = f"projects/-/serviceAccounts/{SA_EMAIL}"
    policy = sas.getIamPolicy(resource=resource, options_requestedPolicyVersion=3).execute()
    policy["bindings"] = [{"role": "roles/iam.workloadIdentityUser", "members": [member]}]
    sas.setIamPolicy(resource=resource, body={"policy": policy}).execute()


def external_account(base_url: str, md_url: str) -> dict[str, Any]:
    return {
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{POOL_PATH}/providers/{PROVIDER}",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": f"{base_url}/v1/token",
        "service_account_impersonation_url":
            f"{base_url}/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": f"{md_url}/latest/meta-data/placement/availability-zone",
            "url": f"{md_url}/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": f"{md_url}/latest/api/token",
            "regional_cred_verification_url":
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="exchanges to run (default 200)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap (default 60 s)")
    args = parser.parse_args()
    if args.count < 1 or args.max_seconds <= 0:
        parser.error("--count must be >= 1 and --max-seconds > 0")
    # google-auth prefers AWS_* variables over IMDS; this process must use the loopback IMDS.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]

    secret = secrets.token_urlsafe(24)
    config = {"admin_tokens": [ADMIN], "projects": [{"id": PROJECT_ID, "number": PROJECT_NUMBER}],
              "aws": {"credential_secret": secret, "accounts": [{"id": ACCOUNT, "roles": [ROLE]}]}}
    emulator = EmulatorServer(config).start()
    md = MetadataServer(secret, ACCOUNT, ROLE, "i-0123456789abcdef0", "us-east-1a",
                        host="127.0.0.1", port=0).start()
    try:
        setup_google_side(emulator.base_url)
        info = external_account(emulator.base_url, md.base_url)
        transport = google.auth.transport.requests.Request(requests.Session())
        latencies: list[float] = []
        started = time.perf_counter()
        while len(latencies) < args.count and time.perf_counter() - started < args.max_seconds:
            creds = google.auth.aws.Credentials.from_info(
                info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
            t0 = time.perf_counter()
            creds.refresh(transport)
            latencies.append(time.perf_counter() - t0)
            if not creds.token:
                raise RuntimeError("exchange returned no token")
        elapsed = time.perf_counter() - started
        stats = emulator.app.stats_snapshot()["routes"]
    finally:
        md.stop()
        emulator.stop()

    sts = stats.get("POST sts.token", {"count": 0, "server_ms": 0.0})
    gat = stats.get("POST iamcredentials.projects.serviceAccounts.generateAccessToken", {"count": 0, "server_ms": 0.0})
    print(f"exchanges:        {len(latencies)} in {elapsed:.2f} s"
          f"{' (time cap reached)' if len(latencies) < args.count else ''}")
    print(f"exchanges/second: {len(latencies) / elapsed:.1f}")
    print(f"latency p50:      {percentile(latencies, 50) * 1000:.1f} ms")
    print(f"latency p95:      {percentile(latencies, 95) * 1000:.1f} ms")
    print(f"latency mean:     {statistics.fmean(latencies) * 1000:.1f} ms")
    for label, entry in (("sts.token", sts), ("generateAccessToken", gat)):
        avg = entry["server_ms"] / entry["count"] if entry["count"] else 0.0
        print(f"emulator {label + ':':21s} {entry['count']} calls, {avg:.2f} ms server-side each")
    print("(the rest of each exchange is google-auth, the IMDS round trips and loopback HTTP)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
