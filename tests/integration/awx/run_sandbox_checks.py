"""The documented flow against the running sandbox (scripts/test sandbox calls this after `up`).

1. moto's EC2 on loopback gets one instance per sandbox host (same private IP, an instance
   profile named after the host's role, tagged keyless-wif=litellm) plus two that must stay out
   of the inventory: an untagged one and a stopped tagged one, at bridge addresses nothing
   listens on, so a run that tried them would fail as unreachable.
2. `ansible-playbook -i docs/examples/inventory/ -i <connection vars> -e @vars.yml site.yml`:
   the documented amazon.aws.aws_ec2 inventory; the sandbox is converged, so nothing may change.
3. As AWX does it: an inventory sync (ansible-inventory --list of the same source) stored as a
   script inventory, then keyless.wif.site and keyless.wif.verify through ansible_runner.run();
   the job events must show success, no failed or unreachable task, no change, the verify table;
   then tests/hosts/secret_scan.py greps every file of the runner's artifacts for secrets.

Usage: run_sandbox_checks.py [--state .cache/sandbox] [--out build/awx-sandbox]
Exit 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import ansible_runner
import yaml
from moto_ec2 import EXAMPLE_INVENTORY, REPO, InstanceSpec, MotoEc2, ansible_inventory_list, plain

WIFHOST = [sys.executable, str(REPO / "tests" / "hosts" / "wifhost")]
SECRET_SCAN = REPO / "tests" / "hosts" / "secret_scan.py"
PLAYBOOK_TIMEOUT = 900  # seconds for one site run on converged hosts (about 2 min here)
# Bridge addresses no sandbox host uses: the instances that must not be in the inventory.
OUTSIDER_ADDRESSES = ("10.213.0.250", "10.213.0.251")
VERIFY_TABLE_HEADER = re.compile(r"host\s+\| aws role\s+\| token\s*\| http\s*\| completion / diagnosis")
RECAP_LINE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def log(message: str) -> None:
    print("[awx-checks] %s" % message, flush=True)


def sandbox_hosts(state: Path) -> tuple[dict[str, dict], dict]:
    """{wifhost name: {address, role}} for the hosts in scripts/sandbox's inventory, and its connection vars."""
    inventory = yaml.safe_load((state / "inventory.yml").read_text())["litellm_hosts"]
    addresses = {name: host["ansible_host"] for name, host in inventory["hosts"].items()}
    status = json.loads(subprocess.run([*WIFHOST, "status", "--json"], capture_output=True, text=True,
                                       timeout=60, check=True).stdout)
    roles = {i["instance"]: (i.get("aws") or {}).get("role") for i in status.get("instances", [])}
    missing = sorted(name for name in addresses if not roles.get(name))
    if missing:
        raise SystemExit("no running wifhost instance (with an AWS role) for %s" % ", ".join(missing))
    return {name: {"address": addresses[name], "role": roles[name]} for name in addresses}, inventory["vars"]


def check_recap(output: str, hosts: set[str]) -> list[str]:
    recap = {m[0]: [int(n) for n in m[1:]] for m in RECAP_LINE.findall(output.split("PLAY RECAP", 1)[-1])}
    problems = [] if set(recap) == hosts | {"localhost"} else ["recap hosts %s, wanted %s" % (sorted(recap), sorted(hosts | {"localhost"}))]
    for host, (_ok, changed, unreachable, failed) in recap.items():
        if changed or unreachable or failed:
            problems.append("%s: changed=%d unreachable=%d failed=%d" % (host, changed, unreachable, failed))
    return problems


def changed_tasks(output: str) -> list[tuple[str, str]]:
    """(task, host) for every `changed: [host]` line of an ansible-playbook log."""
    found, task = [], "?"
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].split("]", 1)[0]
        elif line.startswith("changed: ["):
            found.append((task, line[len("changed: ["):].split("]", 1)[0]))
    return found


def run_site_with_example_inventory(moto: MotoEc2, connection: Path, extravars: Path, out: Path, hosts: set[str]) -> list[str]:
    cmd = ["ansible-playbook", "-i", str(EXAMPLE_INVENTORY), "-i", str(connection), "-e", "@%s" % extravars,
           str(REPO / "playbooks" / "site.yml")]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=moto.inventory_env(), capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
    (out / "site-aws_ec2.log").write_text(proc.stdout + proc.stderr)
    log("site.yml with the example aws_ec2 inventory: rc %d in %.0f s (log: %s)" % (proc.returncode, time.monotonic() - started,
                                                                                  out / "site-aws_ec2.log"))
    problems = check_recap(proc.stdout, hosts)
    problems += ["changed: task %r on %s" % (task, host) for task, host in changed_tasks(proc.stdout)]
    if proc.returncode:
        problems.append("ansible-playbook rc %d: %s" % (proc.returncode, proc.stdout[-3000:]))
    return problems


def sync_inventory(moto: MotoEc2, out: Path) -> Path:
    """AWX's inventory update: the source's --list output, stored for the jobs."""
    stored = out / "synced-inventory.json"
    stored.write_text(json.dumps(ansible_inventory_list([EXAMPLE_INVENTORY], moto.inventory_env())))
    return stored


def job_private_data_dir(out: Path, ident: str, stored_inventory: Path) -> Path:
    """A fresh private data dir per job, as AWX makes one. Reused, it would already hold
    env/extravars, and ansible-runner then puts the extravars argument inline on the
    ansible-playbook command line (visible in ps, saved in artifacts/command)."""
    private_data_dir = out / ("runner-" + ident)
    script = private_data_dir / "inventory" / "hosts"
    script.parent.mkdir(parents=True)
    script.write_text("#!%s\nimport sys\nsys.stdout.write(open(%r).read() if '--list' in sys.argv else '{}')\n"
                      % (sys.executable, str(stored_inventory)))
    script.chmod(0o755)
    return private_data_dir


def runner_job(private_data_dir: Path, artifact_dir: Path, playbook: str, inventories: list[Path], extravars: dict, ident: str):
    started = time.monotonic()
    envvars = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"), "ANSIBLE_NOCOLOR": "1",
               "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True", "GCE_METADATA_HOST": "127.0.0.1:9",
               "GCE_METADATA_IP": "127.0.0.1:9"}
    result = ansible_runner.run(private_data_dir=str(private_data_dir), artifact_dir=str(artifact_dir), playbook=playbook, ident=ident,
                                inventory=[str(p) for p in inventories], extravars=extravars, envvars=envvars,
                                quiet=True, timeout=PLAYBOOK_TIMEOUT)
    log("ansible_runner.run(playbook=%s): status %s, rc %s in %.0f s" % (playbook, result.status, result.rc, time.monotonic() - started))
    return result


def check_job(result, hosts: set[str], want_verify_table: bool) -> list[str]:
    problems = []
    if result.status != "successful" or result.rc != 0:
        problems.append("status %s, rc %s" % (result.status, result.rc))
    events = list(result.events)
    counts: dict[str, int] = {}
    for event in events:
        counts[event["event"]] = counts.get(event["event"], 0) + 1
    log("  %d events: %s" % (len(events), ", ".join("%s=%d" % kv for kv in sorted(counts.items()) if kv[0].startswith("runner_on_"))))
    for event in events:
        if event["event"] in ("runner_on_failed", "runner_on_unreachable"):
            data = event["event_data"]
            problems.append("%s on %s in task %r" % (event["event"], data.get("host"), data.get("task")))
    stats = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"]
    if len(stats) != 1:
        problems.append("%d playbook_on_stats events" % len(stats))
    else:
        if set(stats[0].get("ok", {})) != hosts | {"localhost"}:
            problems.append("hosts that ran: %s" % sorted(stats[0].get("ok", {})))
        if stats[0].get("changed"):
            problems.append("changed on a converged sandbox: %s" % stats[0]["changed"])
    if want_verify_table:
        stdout = "\n".join(e.get("stdout", "") for e in events)
        rows = [line for line in stdout.splitlines() if any(re.search(r"\b%s\s+\|" % re.escape(h), line) for h in hosts)]
        if not VERIFY_TABLE_HEADER.search(stdout):
            problems.append("no verify table in the events' stdout")
        elif len(rows) != len(hosts) or not all(re.search(r"\|\s*ok\s*\|\s*200\s*\|", row) for row in rows):
            problems.append("verify table rows: %s" % rows)
        else:
            log("  verify table: %d rows, token ok and http 200 on each" % len(rows))
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=REPO / ".cache" / "sandbox", help="scripts/sandbox's state directory")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "awx-sandbox", help="logs and the runner's private data dir")
    args = parser.parse_args(argv)
    hosts, connection_vars = sandbox_hosts(args.state)
    extravars = yaml.safe_load((args.state / "vars.yml").read_text())
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    # The example inventory names hosts by instance id; the sandbox's connection settings apply to its group.
    connection = args.out / "sandbox-connection.yml"
    connection.write_text(yaml.safe_dump({"litellm_hosts": {"vars": connection_vars}}))
    specs = [InstanceSpec(name, host["address"], host["role"]) for name, host in sorted(hosts.items())]
    specs += [InstanceSpec("outside-untagged", OUTSIDER_ADDRESSES[0], specs[0].role, tagged=False),
              InstanceSpec("outside-stopped", OUTSIDER_ADDRESSES[1], specs[0].role, stopped=True)]
    problems: list[str] = []
    with MotoEc2() as moto:
        instances = moto.launch(specs)
        wanted = {i.instance_id for i in instances if i.spec.tagged and not i.spec.stopped}
        listing = plain(ansible_inventory_list([EXAMPLE_INVENTORY], moto.inventory_env()))
        grouped = set(listing.get("litellm_hosts", {}).get("hosts", []))
        log("moto EC2 at %s: %d instances, litellm_hosts = %s" % (moto.url, len(instances), ", ".join(
            "%s (%s)" % (i.instance_id, listing["_meta"]["hostvars"][i.instance_id]["ansible_host"]) for i in instances
            if i.instance_id in grouped)))
        if grouped != wanted:
            return report(["litellm_hosts is %s, wanted %s" % (sorted(grouped), sorted(wanted))])
        problems += run_site_with_example_inventory(moto, connection, args.state / "vars.yml", args.out, wanted)
        stored_inventory = sync_inventory(moto, args.out)
    # The jobs run from the synced inventory alone, with moto already gone, as AWX jobs do.
    artifacts = args.out / "artifacts"
    for playbook, ident in (("keyless.wif.site", "site"), ("keyless.wif.verify", "verify")):
        private_data_dir = job_private_data_dir(args.out, ident, stored_inventory)
        result = runner_job(private_data_dir, artifacts, playbook, [private_data_dir / "inventory" / "hosts", connection], extravars, ident)
        problems += ["%s: %s" % (playbook, p) for p in check_job(result, wanted, want_verify_table=True)]
    scan = subprocess.run([sys.executable, str(SECRET_SCAN), str(artifacts),
                           extravars["keyless_wif_gcp_module_defaults"]["endpoints"]["iam"],
                           extravars["litellm_proxy_master_key"], *sorted(hosts)],
                          capture_output=True, text=True, timeout=300, check=False)
    print(scan.stdout.rstrip(), scan.stderr.rstrip(), sep="\n" if scan.stderr else "")
    if scan.returncode:
        problems.append("secret scan of the runner's artifacts failed (rc %d)" % scan.returncode)
    return report(problems)


def report(problems: list[str]) -> int:
    for problem in problems:
        log("FAIL: %s" % problem)
    log("all checks passed" if not problems else "%d problem(s)" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    sys.exit(main(sys.argv[1:]))
