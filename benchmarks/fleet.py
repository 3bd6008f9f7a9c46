#!/usr/bin/env python3
"""Benchmark: keyless.wif.site on a fleet of 1, 4, 8 sandbox hosts, first run and idempotent re-run.

For each fleet size N it brings up the emulator and N EC2-like hosts, all under the bound role
(`SANDBOX_HOST_COUNT=N scripts/sandbox hosts`, the sandbox's own code path and inventory), runs
playbooks/site.yml twice (the second run must report changed=0 on every host, or the benchmark
fails), optionally re-runs with one setting changed (pipelining off, no ControlMaster, default
forks, mitogen_linear), then removes everything (`scripts/sandbox down`, also on
failure). It prints one table: wall times, re-run per host, the re-run's ratio to the smallest
fleet's, the settings, /proc/loadavg around every run and /proc/meminfo with N proxies running,
and where each run's CPU time went: the test hosts (their cgroups), the emulator, the rest (the
controller: ansible-playbook, its workers and SSH clients).

    .venv/bin/python benchmarks/fleet.py --hosts 1,4,8
    .venv/bin/python benchmarks/fleet.py --hosts 4 --mitogen /path/to/mitogen-0.3.54

Needs root (the test hosts). With --lock-file the test-host lock is held per fleet size only.
Figures and the recommended ansible.cfg: docs/fleet.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "scripts" / "sandbox"
STATE = ROOT / ".cache" / "sandbox"  # scripts/sandbox's state dir: inventory.yml, vars.yml
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
MAX_HOSTS = 16
DEFAULT_FORKS = 5  # Ansible's
PLAYBOOK_TIMEOUT_S = 1800
SANDBOX_TIMEOUT_S = 900
# Ansible's own default ssh_args, written out so the table says what ran.
SSH_ARGS_CONTROL_PERSIST = "-C -o ControlMaster=auto -o ControlPersist=60s"
SSH_ARGS_NO_CONTROL_MASTER = "-C -o ControlMaster=no"
CGROUP_V2 = Path("/sys/fs/cgroup/unified")  # wifhost's hybrid layout: every host, IMDS and emulator has a group here
HOST_GROUPS = ("nspawn-", "kwif-imds-")
EMULATOR_GROUP = "kwif-emulator-"
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class Settings:
    """What one ansible-playbook run is given; `label` names the one difference from the baseline."""

    forks: int
    pipelining: bool = True
    ssh_args: str = SSH_ARGS_CONTROL_PERSIST
    strategy: str = "linear"
    strategy_plugins: str = ""
    label: str = "baseline"

    def environment(self, control_path_dir: str) -> dict[str, str]:
        env = {
            "ANSIBLE_FORKS": str(self.forks),
            "ANSIBLE_PIPELINING": str(self.pipelining),
            "ANSIBLE_SSH_ARGS": self.ssh_args,
            # A fresh directory per run: no warm SSH master is carried from one run to the next.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control_path_dir,
            "ANSIBLE_STRATEGY": self.strategy,
        }
        if self.strategy_plugins:
            env["ANSIBLE_STRATEGY_PLUGINS"] = self.strategy_plugins
        return env


@dataclass
class Run:
    hosts: int
    kind: str  # "first", "re-run"
    settings: Settings
    seconds: float
    changed: dict[str, int]
    load_before: str
    load_after: str
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds the run used: machine, hosts, emulator


@dataclass
class Fleet:
    hosts: int
    boot_seconds: float = 0.0
    runs: list[Run] = field(default_factory=list)
    mem_before: dict[str, int] = field(default_factory=dict)
    mem_after: dict[str, int] = field(default_factory=dict)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def meminfo() -> dict[str, int]:
    """MiB of the lines that matter: what is left, and the tmpfs (Shmem) the hosts' layers use."""
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable", "Shmem"):
            values[key] = int(rest.split()[0]) // 1024
    return values


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far: by the whole machine (/proc/stat, all but idle and iowait), by the
    test hosts (their systemd-nspawn and IMDS cgroups) and by the emulator (cgroup v2 usage_usec)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    out = {"machine": busy / os.sysconf("SC_CLK_TCK"), "hosts": 0.0, "emulator": 0.0}
    for group in CGROUP_V2.iterdir() if CGROUP_V2.is_dir() else ():
        kind = "hosts" if group.name.startswith(HOST_GROUPS) else "emulator" if group.name.startswith(EMULATOR_GROUP) else None
        stat = group / "cpu.stat"
        if kind and stat.is_file():
            usage = next(line.split()[1] for line in stat.read_text().splitlines() if line.startswith("usage_usec"))
            out[kind] += int(usage) / 1e6
    return out


def sandbox(command: str, hosts: int, tmpfs_upper: str) -> None:
    env = dict(os.environ, SANDBOX_HOST_COUNT=str(hosts))
    if tmpfs_upper:
        env["SANDBOX_TMPFS_UPPER"] = tmpfs_upper
    proc = subprocess.run([str(SANDBOX), command], env=env, capture_output=True, text=True, timeout=SANDBOX_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit("scripts/sandbox %s failed (rc=%d)" % (command, proc.returncode))


def teardown(hosts: int) -> None:
    # Without an inventory, `scripts/sandbox down` skips keyless.wif.teardown (minutes on a fleet)
    # and only removes hosts, emulator and bridge: the emulator's state goes with them.
    (STATE / "inventory.yml").unlink(missing_ok=True)
    sandbox("down", hosts, "")


def playbook(hosts: int, kind: str, settings: Settings, log_dir: Path) -> Run:
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"),
        ANSIBLE_DEPRECATION_WARNINGS="0",
        AWS_EC2_METADATA_DISABLED="true",
        NO_GCE_CHECK="True",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
    )
    log = log_dir / ("n%d-%s-%s-%s.log" % (hosts, kind, settings.label.replace(" ", "-"), time.strftime("%H%M%S")))
    with tempfile.TemporaryDirectory(prefix="kwif-fleet-cp-") as control_path_dir:
        env.update(settings.environment(control_path_dir))
        before = loadavg()
        cpu_before = cpu_seconds()
        start = time.monotonic()
        proc = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", str(STATE / "inventory.yml"), "-e", "@%s" % (STATE / "vars.yml"), str(ROOT / "playbooks" / "site.yml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=PLAYBOOK_TIMEOUT_S,
            check=False,
        )
        seconds = time.monotonic() - start
        after = loadavg()
        cpu = {key: value - cpu_before[key] for key, value in cpu_seconds().items()}
    log.write_text(proc.stdout + proc.stderr)
    recap = {m.group(1): (int(m.group(3)), int(m.group(4)), int(m.group(5))) for m in RECAP_LINE.finditer(proc.stdout)}
    fleet_hosts = [name for name in recap if name != "localhost"]
    if proc.returncode != 0 or len(fleet_hosts) != hosts or any(u or f for _, u, f in recap.values()):
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("site.yml (%s, %s, %d hosts) failed (rc=%d); log: %s" % (kind, settings.label, hosts, proc.returncode, log))
    changed = {name: c for name, (c, _, _) in recap.items()}
    if kind == "re-run" and any(changed.values()):
        raise SystemExit("re-run (%s, %d hosts) is not idempotent: changed=%s; log: %s" % (settings.label, hosts, changed, log))
    run = Run(hosts, kind, settings, seconds, changed, before, after, cpu)
    print("  N=%d %-7s %-22s %7.1f s  load %s -> %s  CPU s: machine %.1f, hosts %.1f, emulator %.1f"
          % (hosts, kind, settings.label, seconds, before, after, cpu["machine"], cpu["hosts"], cpu["emulator"]), flush=True)
    return run


def variants(baseline: Settings, all_settings: bool, mitogen: Path | None) -> list[Settings]:
    """The baseline with one setting changed each, to measure what each recommended setting is worth.

    Not strategy free: site.yml's first play hands every host's role to the controller in a
    run_once task, which under free runs per host before the other hosts have their role.
    """
    out = []
    if all_settings:
        out += [
            Settings(forks=baseline.forks, pipelining=False, label="pipelining off"),
            Settings(forks=baseline.forks, ssh_args=SSH_ARGS_NO_CONTROL_MASTER, label="no ControlMaster"),
        ]
    if baseline.forks > DEFAULT_FORKS:
        out.append(Settings(forks=DEFAULT_FORKS, label="forks %d (default)" % DEFAULT_FORKS))
    if all_settings and mitogen:
        out.append(
            Settings(
                forks=baseline.forks,
                strategy="mitogen_linear",
                label="mitogen_linear",
                strategy_plugins=str(mitogen / "ansible_mitogen" / "plugins" / "strategy"),
            )
        )
    return out


def measure(hosts: int, args: argparse.Namespace, log_dir: Path) -> Fleet:
    fleet = Fleet(hosts)
    fleet.mem_before = meminfo()
    baseline = Settings(forks=max(hosts, DEFAULT_FORKS))
    try:
        start = time.monotonic()
        sandbox("hosts", hosts, args.tmpfs_upper)
        fleet.boot_seconds = time.monotonic() - start
        print("  N=%d hosts up in %.1f s" % (hosts, fleet.boot_seconds), flush=True)
        fleet.runs.append(playbook(hosts, "first", baseline, log_dir))
        fleet.mem_after = meminfo()
        changed_settings = variants(baseline, hosts in args.variants_at, args.mitogen)
        # With variants, the last baseline re-run comes after them, so that a load change during
        # the variants shows as a spread between the baselines.
        before_variants = args.reruns - 1 if changed_settings and args.reruns > 1 else args.reruns
        for _ in range(before_variants):
            fleet.runs.append(playbook(hosts, "re-run", baseline, log_dir))
        for settings in changed_settings:
            fleet.runs.append(playbook(hosts, "re-run", settings, log_dir))
        for _ in range(args.reruns - before_variants):
            fleet.runs.append(playbook(hosts, "re-run", baseline, log_dir))
    finally:
        teardown(hosts)
    return fleet


def report(fleets: list[Fleet], args: argparse.Namespace) -> None:
    def best(fleet: Fleet, label: str) -> float | None:
        times = [r.seconds for r in fleet.runs if r.kind == "re-run" and r.settings.label == label]
        return min(times) if times else None

    reference = best(fleets[0], "baseline")
    print(
        "\nkeyless.wif.site on N sandbox hosts (%d cores, tmpfs upper %s); re-run = best of %d, changed=0 on every host"
        % (os.cpu_count() or 0, args.tmpfs_upper or "off", args.reruns)
    )
    print("| N | boot s | first run s | re-run s (best; all) | re-run per host s | re-run / N=%d | forks | load before first -> after last |" % fleets[0].hosts)
    print("|---|---|---|---|---|---|---|---|")
    for fleet in fleets:
        first = next(r for r in fleet.runs if r.kind == "first")
        rerun = best(fleet, "baseline")
        print(
            "| %d | %.1f | %.1f | %.1f; %s | %.2f | %.2f | %d | %s -> %s |"
            % (
                fleet.hosts,
                fleet.boot_seconds,
                first.seconds,
                rerun,
                " ".join("%.1f" % r.seconds for r in fleet.runs if r.kind == "re-run" and r.settings.label == "baseline"),
                rerun / fleet.hosts,
                rerun / reference,
                first.settings.forks,
                first.load_before,
                fleet.runs[-1].load_after,
            )
        )
    variant_rows = [(f, r) for f in fleets for r in f.runs if r.kind == "re-run" and r.settings.label != "baseline"]
    if variant_rows:
        print("\nOne setting changed, re-run (same fleet, same run of the benchmark):")
        print("| N | setting | re-run s | baseline re-run s | ratio | load before -> after |")
        print("|---|---|---|---|---|---|")
        for fleet, run in variant_rows:
            base = best(fleet, "baseline")
            print(
                "| %d | %s | %.1f | %.1f | %.2f | %s -> %s |"
                % (fleet.hosts, run.settings.label, run.seconds, base, run.seconds / base, run.load_before, run.load_after)
            )
    print(
        "\nBaseline settings: forks = max(N, %d), pipelining True, ssh_args %r, a fresh ControlPath dir per run, "
        "strategy linear, gather_facts false (every play of site.yml)" % (DEFAULT_FORKS, SSH_ARGS_CONTROL_PERSIST)
    )
    cores = os.cpu_count() or 1
    print("\nCPU seconds of the best baseline re-run (busy = machine CPU / (wall x %d cores); rest = the controller and anything else):" % cores)
    print("| N | wall s | machine CPU s | busy | hosts CPU s | per host | emulator CPU s | rest CPU s | rest per host |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fleet in fleets:
        run = min((r for r in fleet.runs if r.kind == "re-run" and r.settings.label == "baseline"), key=lambda r: r.seconds)
        rest = run.cpu["machine"] - run.cpu["hosts"] - run.cpu["emulator"]
        print(
            "| %d | %.1f | %.1f | %.0f %% | %.1f | %.2f | %.1f | %.1f | %.2f |"
            % (fleet.hosts, run.seconds, run.cpu["machine"], 100 * run.cpu["machine"] / (run.seconds * cores), run.cpu["hosts"],
               run.cpu["hosts"] / fleet.hosts, run.cpu["emulator"], rest, rest / fleet.hosts)
        )
    print("\nMemory (/proc/meminfo, MiB), before the hosts and after the first run (N proxies running):")
    print("| N | MemTotal | MemAvailable before | MemAvailable after | used per host | Shmem (tmpfs layers) per host |")
    print("|---|---|---|---|---|---|")
    for fleet in fleets:
        used = fleet.mem_before["MemAvailable"] - fleet.mem_after["MemAvailable"]
        shmem = fleet.mem_after["Shmem"] - fleet.mem_before["Shmem"]
        print(
            "| %d | %d | %d | %d | %d | %d |"
            % (
                fleet.hosts,
                fleet.mem_before["MemTotal"],
                fleet.mem_before["MemAvailable"],
                fleet.mem_after["MemAvailable"],
                used // fleet.hosts,
                shmem // fleet.hosts,
            )
        )


@contextlib.contextmanager
def host_lock(path: str):
    """The test-host lock (the one `flock /tmp/kwif-hosts.lock …` takes), held for one fleet size."""
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sizes(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or len(values) > 4 or any(not 1 <= v <= MAX_HOSTS for v in values):
        raise argparse.ArgumentTypeError("1-4 fleet sizes, each 1-%d" % MAX_HOSTS)
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=sizes, default=[1, 4, 8], help="fleet sizes, comma-separated (default 1,4,8)")
    parser.add_argument("--reruns", type=int, choices=range(1, 4), default=1, help="baseline re-runs per size; the best counts")
    parser.add_argument("--variants-at", type=sizes, default=[4], help="sizes at which each setting is also changed alone (default 4)")
    parser.add_argument("--mitogen", type=Path, help="an unpacked mitogen release (the dir holding ansible_mitogen/) to try mitogen_linear")
    parser.add_argument("--tmpfs-upper", default="3g", help="hosts' writable layers in RAM of this size ('' = on disk)")
    parser.add_argument("--lock-file", default="", help="flock this file around each fleet size (e.g. /tmp/kwif-hosts.lock)")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "build" / "fleet", help="ansible-playbook output of every run")
    args = parser.parse_args()
    if args.mitogen and not (args.mitogen / "ansible_mitogen" / "plugins" / "strategy" / "mitogen_linear.py").is_file():
        parser.error("--mitogen: no ansible_mitogen/plugins/strategy/mitogen_linear.py under %s" % args.mitogen)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    print("fleet benchmark, %s, load %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg()), flush=True)
    fleets = []
    for hosts in args.hosts:
        with host_lock(args.lock_file):
            fleets.append(measure(hosts, args, args.log_dir))
    report(fleets, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
