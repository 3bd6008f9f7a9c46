"""Benchmark: the Google-side set-up (benchmarks/google_side.yml) against the emulator, then its no-op runs.

The first run (auth_kind=accesstoken) creates everything.  Then the same playbook runs again,
changing nothing, with each auth kind: accesstoken, and external_account (the controller
itself keyless: AWS credentials -> STS -> generateAccessToken) with the token cache on and off.
For each no-op run it prints the emulator's reads, writes and token exchanges (STS calls), the
wall time and its ratio to the same number of ansible.builtin.ping tasks run in the same way.
Targets: reads = resources (one per task), 0 writes, 1 exchange per play with the cache.
On the local connection with the controller's Python, the modules run in the task's worker
process (plugin_utils/gcp_action.py); one variant runs them as module processes instead.
Two references show where a task's time goes: the same number of tasks of one keyless.wif module
(ansible-core builds each distinct module's payload once per run) and of as many distinct
ansible.builtin modules.
Starts the emulator in-process on 127.0.0.1 and stops by itself.

    .venv/bin/python benchmarks/google_side.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
PROJECT_ID, PROJECT_NUMBER, ACCOUNT, ROLE = "wif-sandbox", "123456789012", "111111111111", "wif-bound-role"
# The service account the playbook creates and binds to the AWS role: the keyless controller impersonates it.
CONTROLLER_SA = "litellm-vertex@%s.iam.gserviceaccount.com" % PROJECT_ID
CONFIG = {
    "admin_tokens": [TOKEN],
    "projects": [{"id": PROJECT_ID, "number": PROJECT_NUMBER, "services": ["iam.googleapis.com"]}],
    "aws": {"credential_secret": "benchmark-secret", "credential_ttl_seconds": 3600,
            "accounts": [{"id": ACCOUNT, "roles": [ROLE]}]},
    "operations": {"polls_before_done": 0},
    "control_plane_service_accounts": [CONTROLLER_SA],
}
PLAYBOOK = ROOT / "benchmarks" / "google_side.yml"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
STS_ROUTE = "POST sts.token"


def admin(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/_emulator/" + path, data=data, method=method,  # noqa: S310 - loopback
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read() or b"{}")


def grant_owner(base: str, member: str) -> None:
    """roles/owner for MEMBER, with the admin token: the emulator checks each control-plane call's
    permission for control_plane_service_accounts, and the benchmark measures calls, not grants."""
    def call(verb: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
        req = urllib.request.Request("%s/v1/projects/%s:%s" % (base, PROJECT_ID, verb),  # noqa: S310 - loopback
                                     data=json.dumps(body).encode(), method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    policy = call("getIamPolicy", {})
    policy.setdefault("bindings", []).append({"role": "roles/owner", "members": [member]})
    call("setIamPolicy", {"policy": policy})


def run(playbook: Path, workdir: Path, extra: list[str], env_extra: dict[str, str] | None = None) -> float:
    inventory = workdir / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(workdir / "collections"), ANSIBLE_HOME=str(workdir / "home"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0",
               GCP_TOKEN_CACHE_DIR=str(workdir / "tokens"))
    env.update(env_extra or {})
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


def external_account_file(workdir: Path) -> Path:
    path = workdir / "controller-external-account.json"
    pool = "projects/%s/locations/global/workloadIdentityPools/aws-pool" % PROJECT_NUMBER
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": "//iam.googleapis.com/%s/providers/aws-provider" % pool,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             "%s:generateAccessToken" % CONTROLLER_SA,
        "credential_source": {"environment_id": "aws1", "regional_cred_verification_url":
                              "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"},
    }))
    return path


def write_play(path: Path, tasks: list[dict], **play: object) -> Path:
    path.write_text(json.dumps([dict({"name": path.stem, "hosts": "localhost", "gather_facts": False}, tasks=tasks, **play)]))
    return path


def baselines(workdir: Path, base: str, tasks: int) -> dict[str, list[dict]]:
    """Where a no-op task's time goes: TASKS tasks of one keyless.wif module (ansible-core builds
    a module's payload once per run, so this is the per-task cost alone), and TASKS distinct
    ansible.builtin modules (each built once, as the set-up's TASKS distinct modules are)."""
    one_module = write_play(workdir / "one_module.yml", [{"keyless.wif.gcp_project_info": {}}] * tasks,
                            vars={"keyless_wif_gcp_in_process": False}, module_defaults={
        "keyless.wif.gcp_project_info": {"project": PROJECT_ID, "auth_kind": "accesstoken", "access_token": TOKEN,
                                         "endpoints": {"cloudresourcemanager": base}}})
    target = workdir / "baseline-target"
    target.write_text("x\n")
    builtins = [{"ansible.builtin.ping": {}}, {"ansible.builtin.stat": {"path": str(target)}},
                {"ansible.builtin.slurp": {"src": str(target)}}, {"ansible.builtin.find": {"paths": [str(workdir)]}},
                {"ansible.builtin.file": {"path": str(target), "state": "file"}},
                {"ansible.builtin.getent": {"database": "passwd", "key": "root"}},
                {"ansible.builtin.command": {"argv": ["true"]}, "changed_when": False},
                {"ansible.builtin.tempfile": {"state": "directory", "path": str(workdir)}},
                {"ansible.builtin.lineinfile": {"path": str(target), "line": "x"}}]
    if tasks > len(builtins):
        raise SystemExit("the benchmark playbook has more tasks than the builtin baseline")
    distinct = write_play(workdir / "distinct_builtins.yml", builtins[:tasks])
    return {"%d x keyless.wif.gcp_project_info (one module, module processes)" % tasks: [{"seconds": run(one_module, workdir, [])}],
            "%d distinct ansible.builtin modules" % tasks: [{"seconds": run(distinct, workdir, [])}]}


def noop_run(base: str, workdir: Path, extra: list[str], env_extra: dict[str, str]) -> dict:
    admin(base, "POST", "reset", {})  # counters only; the state stays
    seconds = run(PLAYBOOK, workdir, extra, env_extra)
    stats = admin(base, "GET", "stats")
    totals, routes = stats["totals"], stats["routes"]
    exchanges = routes.get(STS_ROUTE, {}).get("count", 0)
    return {"seconds": seconds, "reads": totals.get("read", 0), "writes": totals.get("write", 0),
            "exchanges": exchanges, "routes": {k: v["count"] for k, v in routes.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="no-op runs per variant (the median time is shown)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be 1 to 10")
    tasks = task_count(PLAYBOOK)
    with tempfile.TemporaryDirectory(prefix="keyless-bench-") as tmp:
        workdir = Path(tmp)
        link = workdir / "collections" / "ansible_collections" / "keyless" / "wif"
        link.parent.mkdir(parents=True)
        link.symlink_to(ROOT)
        server = EmulatorServer(CONFIG).start()
        results: dict[str, list[dict]] = {}
        reference: dict[str, list[dict]] = {}
        try:
            base = server.base_url
            endpoint = ["-e", "gcp_endpoint=%s" % base]
            first = run(PLAYBOOK, workdir, [*endpoint, "-e", "gcp_access_token=%s" % TOKEN])
            first_stats = admin(base, "GET", "stats")["totals"]
            grant_owner(base, "serviceAccount:" + CONTROLLER_SA)
            creds = admin(base, "POST", "aws/credentials", {"account_id": ACCOUNT, "role_name": ROLE,
                                                            "session_name": "i-0123456789abcdef0"})
            aws_env = {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": creds["Token"], "AWS_REGION": "us-east-1"}
            external = [*endpoint, "-e", "gcp_auth_kind=external_account",
                        "-e", "gcp_external_account_file=%s" % external_account_file(workdir)]
            variants = [
                ("accesstoken", [*endpoint, "-e", "gcp_access_token=%s" % TOKEN], {}),
                ("external_account", external, dict(aws_env, GCP_TOKEN_CACHE="true")),
                ("external_account, token_cache=false", external, dict(aws_env, GCP_TOKEN_CACHE="false")),
                # The same play with every module in its own process (before the in-process action plugin).
                ("accesstoken, module processes", [*endpoint, "-e", "gcp_access_token=%s" % TOKEN,
                                                   "-e", "keyless_wif_gcp_in_process=false"], {}),
            ]
            for _round in range(args.repeat):
                for name, extra, env_extra in variants:
                    if name == "external_account":
                        for entry in (workdir / "tokens").glob("*"):
                            entry.unlink()  # each play starts without a cached token
                    results.setdefault(name, []).append(noop_run(base, workdir, extra, env_extra))
                for name, runs in baselines(workdir, base, tasks).items():
                    reference.setdefault(name, []).extend(runs)
        finally:
            server.stop()
        pings = workdir / "ping.yml"
        pings.write_text(json.dumps([{"name": "ping", "hosts": "localhost", "gather_facts": False,
                                      "tasks": [{"ansible.builtin.ping": {}} for _unused1 in range(tasks)]}]))
        ping_times = [run(pings, workdir, []) for _round in range(args.repeat)]

    ping_time = statistics.median(ping_times)
    print("Google-side set-up: %d tasks (benchmarks/google_side.yml), load average %s"
          % (tasks, " ".join("%.2f" % v for v in os.getloadavg())))
    print("  first run : %6.2f s  reads=%d writes=%d" % (first, first_stats.get("read", 0), first_stats.get("write", 0)))
    print("  %d x ansible.builtin.ping: %6.2f s" % (tasks, ping_time))
    print("  no-op runs (resources = %d):" % tasks)
    print("    %-36s %8s %6s %6s %6s %9s %8s" % ("auth kind", "seconds", "reads", "writes", "STS", "exchanges", "x ping"))
    ok = True
    figures = {"tasks": tasks, "ping_seconds": ping_time, "load_average": os.getloadavg()[0], "variants": {}}
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        last = runs[-1]
        print("    %-36s %8.2f %6d %6d %6d %9s %8.2f" % (name, seconds, last["reads"], last["writes"], last["exchanges"],
                                                         "%d/play" % last["exchanges"], seconds / ping_time))
        figures["variants"][name] = dict(last, seconds=seconds, ratio=seconds / ping_time)
        ok = ok and last["writes"] == 0
    print("  where the time goes (same emulator, accesstoken):")
    for name, runs in reference.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        print("    %-52s %8.2f %8.2f" % (name, seconds, seconds / ping_time))
        figures["variants"][name] = {"seconds": seconds, "ratio": seconds / ping_time}
    print("  no-op reads by API method (external_account):")
    for key, count in results["external_account"][-1]["routes"].items():
        print("    %-64s %3d" % (key, count))
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    print("RESULT: %s (no-op runs wrote %s times)" % ("ok" if ok else "FAIL",
                                                     "/".join(str(r[-1]["writes"]) for r in results.values())))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
