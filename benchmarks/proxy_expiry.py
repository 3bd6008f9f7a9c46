#!/usr/bin/env python3
"""Completions through a sandbox host's LiteLLM proxy across token expiry and credential rotation.

Run after `scripts/sandbox up`, whose emulator issues short-lived federated and service-account
tokens and whose metadata servers rotate the instance credentials (tests/hosts/emulator-sandbox.yml,
`tokens:` and `aws.credential_ttl_seconds`). For --duration seconds it sends one completion every
--interval seconds to the proxy on --host (from inside that host's network namespace, the only
place 127.0.0.1:4000 is the proxy), without restarting anything. It prints completions sent,
failures (must be 0), and the token exchanges the emulator counted meanwhile, next to the
number expected from the lifetimes, and how many new AWS instance credentials signed them.
Exit status 1 when a completion failed, fewer than two token lifetimes were covered, fewer
exchanges than lifetimes were counted, or the rotated instance credentials were not used.

    .venv/bin/python benchmarks/proxy_expiry.py --host sandbox-a [--duration 300] [--interval 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "hosts" / "emulator-sandbox.yml"
WIFHOST = ROOT / "tests" / "hosts" / "wifhost"
# The host layout's one home (plain constants: loaded from its file, no Ansible import needed).
_spec = importlib.util.spec_from_file_location("host_layout", ROOT / "plugins" / "module_utils" / "wif" / "host_layout.py")
host_layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(host_layout)

# The proxy's health timer makes a token exchange of its own on each run (its credential check):
# stopped while the benchmark counts the proxy's exchanges, started again afterwards.
HEALTH_TIMER = host_layout.PROXY_SERVICE_NAME + "-health.timer"
EMULATOR = "http://10.213.0.1:8470"
MASTER_KEY = "sk-keyless-wif-sandbox-master-key-00000000000000000001"
# google-auth refreshes a token once less than this much of its life is left
# (google.auth._helpers.REFRESH_THRESHOLD); LiteLLM follows its token_state.
GOOGLE_AUTH_REFRESH_THRESHOLD = 225.0

# Runs inside the host's network namespace with this interpreter; one JSON line per completion.
CLIENT = textwrap.dedent("""
    import json, sys, time, urllib.error, urllib.request
    duration, interval, key, model = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
    end = time.monotonic() + duration
    while time.monotonic() < end:
        started = time.monotonic()
        body = json.dumps({"model": model, "max_tokens": 16,
                           "messages": [{"role": "user", "content": "Say ok."}]}).encode()
        req = urllib.request.Request("http://127.0.0.1:4000/v1/chat/completions", data=body, method="POST",
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                ok = resp.status == 200 and bool(json.load(resp)["choices"][0]["message"]["content"])
                status, error = resp.status, ""
        except urllib.error.HTTPError as exc:
            ok, status, error = False, exc.code, exc.read()[:300].decode("utf-8", "replace")
        except Exception as exc:
            ok, status, error = False, -1, repr(exc)[:300]
        print(json.dumps({"t": round(started, 3), "ok": ok, "status": status, "error": error,
                          "ms": round((time.monotonic() - started) * 1000, 1)}), flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
""")


def emulator(path: str) -> dict:
    with urllib.request.urlopen(EMULATOR + path, timeout=10) as resp:  # noqa: S310 - the sandbox bridge only
        return json.load(resp)


def exchanges() -> tuple[int, int, int]:
    """(STS exchanges, generateAccessToken calls, distinct AWS credentials seen) so far."""
    counters = emulator("/_emulator/stats").get("counters", {})
    return (int(counters.get("sts_token_exchanges", 0)), int(counters.get("generate_access_token", 0)),
            int(counters.get("aws_credentials_seen", 0)))


def post(path: str, body: dict) -> dict:
    req = urllib.request.Request(EMULATOR + path, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the sandbox bridge only
        return json.load(resp)


def completions(host: str, duration: float, interval: float, model: str) -> tuple[list[dict], float, tuple[int, ...], str]:
    """(results, elapsed, (STS exchanges, generateAccessToken calls, AWS credentials first seen), client error)
    for one phase."""
    before = exchanges()
    start = time.monotonic()
    # Bounded: the client stops after ``duration``; the timeout is a backstop.
    proc = subprocess.run(["ip", "netns", "exec", host, "/usr/bin/python3", "-c", CLIENT,
                           str(duration), str(interval), MASTER_KEY, model],
                          capture_output=True, text=True, timeout=duration + 120, check=False)
    elapsed = time.monotonic() - start
    after = exchanges()
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    error = "" if proc.returncode == 0 else "client exited %d: %s" % (proc.returncode, proc.stderr[-500:])
    return results, elapsed, tuple(a - b for a, b in zip(after, before, strict=True)), error


def expected_exchanges(workers: int, elapsed: float, lifetime: float, calls: int) -> int:
    # google-auth refreshes once less than REFRESH_THRESHOLD is left, so a token is usable for
    # lifetime - 225 s; one under the threshold is stale when issued and each call refreshes it.
    usable = lifetime - GOOGLE_AUTH_REFRESH_THRESHOLD
    return workers * math.ceil(elapsed / usable) if usable > 0 else calls


def report(title: str, results: list[dict], elapsed: float, counts: tuple[int, ...], expected: int) -> list[dict]:
    sts, impersonations, new_credentials = counts
    failures = [r for r in results if not r["ok"]]
    latencies = sorted(r["ms"] for r in results) or [0.0]
    print(title)
    print("  completions sent:       %d in %.0f s" % (len(results), elapsed))
    print("  failures:               %d" % len(failures))
    print("  STS token exchanges:    %d (expected about %d)" % (sts, expected))
    print("  generateAccessToken:    %d" % impersonations)
    print("  new AWS credentials:    %d (instance credentials first used in an exchange in this phase)" % new_credentials)
    print("  latency ms p50/p95/max: %.0f / %.0f / %.0f" % (
        latencies[len(latencies) // 2], latencies[max(0, int(len(latencies) * 0.95) - 1)], latencies[-1]))
    for failure in failures[:5]:
        print("  failed: HTTP %s %s" % (failure["status"], failure["error"]))
    return failures


def health_timer(host: str, action: str) -> bool:
    """systemctl ACTION the health timer inside HOST (over wifhost's SSH); False when that failed."""
    proc = subprocess.run([sys.executable, str(WIFHOST), "exec", host, "systemctl", action, HEALTH_TIMER],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode:
        print("  systemctl %s %s on %s failed: %s" % (action, HEALTH_TIMER, host, (proc.stderr or proc.stdout)[-300:]))
    return proc.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="sandbox-a", help="sandbox host (its network namespace has the same name)")
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--control-seconds", type=float, default=40.0,
                        help="then this long with 900 s tokens, to show that a token is reused while fresh")
    parser.add_argument("--model", default="gemini-2.5-flash")
    parser.add_argument("--workers", type=int, default=1, help="the proxy's worker processes (litellm_proxy_num_workers)")
    args = parser.parse_args()
    if not 10 <= args.duration <= 1800 or not 0.2 <= args.interval <= 60 or not 0 <= args.control_seconds <= 600:
        parser.error("--duration must be 10..1800 s, --interval 0.2..60 s, --control-seconds 0..600 s")

    tokens = emulator("/_emulator/tokens")
    lifetime = float(min(tokens["federated_token_seconds"], tokens["service_account_token_seconds"]))
    instance_ttl = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["aws"]["credential_ttl_seconds"]
    # The metadata server offers new credentials once less than min(300 s, TTL/3) is left (docs/emulator.md).
    rotation = instance_ttl - min(300, instance_ttl / 3)

    if not health_timer(args.host, "stop"):
        return 1
    try:
        return measure(args, lifetime, instance_ttl, rotation, tokens)
    finally:
        health_timer(args.host, "start")


def measure(args: argparse.Namespace, lifetime: float, instance_ttl: float, rotation: float, tokens: dict) -> int:
    """The expiry phase, then the control phase; 0 when both passed."""
    results, elapsed, counts, error = completions(args.host, args.duration, args.interval, args.model)
    failures = report("proxy expiry benchmark on %s: token lifetime %.0f s (%.1f lifetimes), instance credentials TTL "
                      "%s s, new ones every %.0f s (%.1f rotations)"
                      % (args.host, lifetime, elapsed / lifetime, instance_ttl, rotation, elapsed / rotation),
                      results, elapsed, counts, expected_exchanges(args.workers, elapsed, lifetime, len(results)))
    # A fresh token per lifetime at least, and rotated instance credentials in use (the phase's
    # first set may have been seen before it, so one fewer than the rotations it spans).
    ok = (not error and results and not failures and elapsed >= 2 * max(lifetime, rotation)
          and counts[0] >= math.floor(elapsed / lifetime) and counts[2] >= math.floor(elapsed / rotation) - 1)

    if args.control_seconds:
        # Control: with tokens longer than google-auth's refresh threshold the proxy must reuse
        # them, about one exchange per worker, or the counts above mean nothing.
        post("/_emulator/tokens", {"federated_token_seconds": 900, "service_account_token_seconds": 900})
        try:
            completions(args.host, min(args.interval * 2, 10), args.interval, args.model)  # let the stale token go
            c_results, c_elapsed, c_counts, c_error = completions(args.host, args.control_seconds, 1.0, args.model)
        finally:
            post("/_emulator/tokens", {"federated_token_seconds": tokens["federated_token_seconds"],
                                       "service_account_token_seconds": tokens["service_account_token_seconds"]})
        c_expected = expected_exchanges(args.workers, c_elapsed, 900.0, len(c_results))
        c_failures = report("control with 900 s tokens:", c_results, c_elapsed, c_counts, c_expected)
        ok = ok and not c_error and c_results and not c_failures and c_counts[0] <= 2 * c_expected
        error = error or c_error
    if error:
        print("  " + error)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
