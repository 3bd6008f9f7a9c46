"""Tests of the nspawn test hosts (tests/hosts/wifhost.py) and the wheelhouse checker.

The integration tests boot real containers, so they need root, debootstrap and
systemd-nspawn (scripts/bootstrap installs them). They use their own state dir, bridge and
subnet, so they do not disturb instances of a running molecule scenario.
Run: .venv/bin/pytest tests/hosts
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WIFHOST = HERE / "wifhost.py"
BRIDGE = "kwiftest0"
HOST_ADDR = "10.213.9.1/24"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


wifhost = load("wifhost")
wheelcheck = load("wheelcheck")


# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize("name", ["", "Upper", "1abc", "a_b", "x" * 40, "../etc"])
def test_bad_instance_names_are_rejected(name):
    with pytest.raises(wifhost.WifHostError, match="instance name"):
        wifhost.check_name(name)


def up_args(**over):
    args = wifhost.parser().parse_args(["up", "t", "--ip", "10.213.0.5/24", "--account-id", "111111111111",
                                        "--role", "r", "--emulator-config", str(HERE / "emulator-sandbox.yml")])
    for k, v in over.items():
        setattr(args, k, v)
    return args


@pytest.mark.parametrize(("over", "field"), [
    ({"ip": "10.9.0.5/24"}, "--ip"),
    ({"ip": "10.213.0.1/24"}, "--ip"),
    ({"ip": "10.213.0.255/24"}, "--ip"),
    ({"ip": "not-an-ip"}, "--ip"),
    ({"account_id": "12"}, "--account-id"),
    ({"role": "bad role!"}, "--role"),
    ({"availability_zone": "useast"}, "--availability-zone"),
    ({"instance_id": "x-123"}, "--instance-id"),
    ({"emulator_config": "/nonexistent.yml"}, "--emulator-config"),
    ({"wheelhouse": "/nonexistent-dir"}, "--wheelhouse"),
])
def test_up_validates_before_any_change(over, field):
    with pytest.raises(wifhost.WifHostError, match=field):
        wifhost.validate_up(up_args(**over), wifhost.parse_host_addr("10.213.0.1/24"))


@pytest.mark.parametrize("addr", ["8.8.8.1/24", "169.254.0.1/16", "10.213.0.1/31", "nonsense"])
def test_host_addr_must_be_private(addr):
    with pytest.raises(wifhost.WifHostError, match="--host-addr"):
        wifhost.parse_host_addr(addr)


def test_names_that_are_global_on_the_host_are_short_and_stable():
    assert wifhost.veth_host("bound") == wifhost.veth_host("bound")
    assert wifhost.veth_host("bound") != wifhost.veth_host("unbound")
    assert len(wifhost.veth_host("x" * 31)) <= 15
    assert len(wifhost.fw_chain("kwifbr0-with-a-long-name")) <= 28


# --------------------------------------------------------------------------- wheelcheck


def fake_wheel(house: Path, name: str, version: str, requires: list[str]) -> None:
    path = house / f"{name}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}-{version}.dist-info/METADATA", meta)


def test_wheelcheck_evaluates_markers_for_the_target_interpreter(tmp_path):
    fake_wheel(tmp_path, "app", "1.0", ['redis>=5', 'extra_dep; extra == "proxy"', 'win; sys_platform == "win32"'])
    fake_wheel(tmp_path, "redis", "5.1", ['async_timeout>=4.0.3; python_full_version < "3.11.3"'])
    req = tmp_path / "req.txt"
    req.write_text("# comment\napp[proxy]==1.0\n")
    env_old = wheelcheck.target_env("3.11.2")
    env_new = wheelcheck.target_env("3.11.7")
    roots = wheelcheck.read_requirements(req)
    assert sorted(wheelcheck.missing(tmp_path, roots, env_old)) == ["async_timeout>=4.0.3", "extra_dep"]
    assert wheelcheck.missing(tmp_path, roots, env_new) == ["extra_dep"]
    fake_wheel(tmp_path, "extra_dep", "0.1", [])
    fake_wheel(tmp_path, "async_timeout", "4.0.3", [])
    assert wheelcheck.missing(tmp_path, roots, env_old) == []


def test_wheelcheck_reports_a_version_that_does_not_fit(tmp_path):
    fake_wheel(tmp_path, "app", "1.0", ["lib>=2"])
    fake_wheel(tmp_path, "lib", "1.9", [])
    req = tmp_path / "req.txt"
    req.write_text("app==1.0\n")
    assert wheelcheck.missing(tmp_path, wheelcheck.read_requirements(req), wheelcheck.target_env("3.11.2")) == [
        "lib>=2"]


# --------------------------------------------------------------------------- real instances (root)


@pytest.fixture
def host(tmp_path):
    """Runs wifhost.py with a private state dir, bridge and subnet; tears everything down after."""
    env = {**os.environ, "KWIF_STATE_DIR": str(tmp_path / "state"), "KWIF_BRIDGE": BRIDGE,
           "KWIF_HOST_ADDR": HOST_ADDR}

    def call(*argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, str(WIFHOST), *argv], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"wifhost {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    call.env = env
    yield call
    call("down", "--all", check=False)


def leftovers(host, *names: str) -> list[str]:
    args = ["status", "--leftovers", "--bridge", BRIDGE]
    for n in names:
        args += ["--name", n]
    return json.loads(host(*args, check=False).stdout)["leftovers"]


@pytest.mark.slow
def test_two_instances_have_their_own_identity_and_leave_nothing(host, tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "marker.whl").write_text("x")
    a = json.loads(host("up", "kwt-a", "--ip", "10.213.9.11/24", "--account-id", "111111111111",
                        "--role", "wif-bound-role", "--wheelhouse", str(wheelhouse)).stdout)
    host("up", "kwt-b", "--ip", "10.213.9.12/24", "--account-id", "111111111111",
         "--role", "wif-unbound-role", "--availability-zone", "eu-west-1b")
    assert (a["address"], a["user"], a["port"]) == ("10.213.9.11", "root", 22)
    probe = ("T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)"
             " && curl -sf -H \"X-aws-ec2-metadata-token: $T\" "
             "http://169.254.169.254/latest/meta-data/iam/security-credentials/; echo; "
             "ip -4 route show default | wc -l; cat /etc/machine-id")
    out_a = host("exec", "kwt-a", "sh", "-c", probe).stdout.split()
    out_b = host("exec", "kwt-b", "sh", "-c", probe).stdout.split()
    assert out_a[0] == "wif-bound-role"
    assert out_b[0] == "wif-unbound-role"
    assert out_a[1] == out_b[1] == "0"            # no default route
    assert out_a[2] != out_b[2]                   # own machine-id
    ro = host("exec", "kwt-a", "sh", "-c", "ls /opt/wheelhouse; touch /opt/wheelhouse/w", check=False)
    assert ro.stdout.split() == ["marker.whl"]
    assert ro.returncode != 0
    host("down", "kwt-a")
    left = leftovers(host, "kwt-a")
    assert not [x for x in left if "kwt-a" in x or wifhost.veth_host("kwt-a") in x], left
    assert [i["name"] for i in json.loads(host("status", "--json").stdout)["instances"]] == ["kwt-b"]
    host("down", "--all")
    assert leftovers(host, "kwt-a", "kwt-b") == []


@pytest.mark.slow
def test_a_failed_up_leaves_nothing(host, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("aws: {credential_secret: 5}\n")      # the IMDS refuses this config and exits
    proc = host("up", "kwt-c", "--ip", "10.213.9.13/24", "--account-id", "111111111111", "--role", "r1",
                "--emulator-config", str(bad), check=False)
    assert proc.returncode == 2
    assert "IMDS" in proc.stderr
    assert leftovers(host, "kwt-c") == []


@pytest.mark.slow
def test_down_cleans_up_after_a_crash(host):
    info = json.loads(host("up", "kwt-d", "--ip", "10.213.9.14/24", "--account-id", "111111111111",
                           "--role", "r1").stdout)
    os.kill(info["nspawn_pid"], signal.SIGKILL)   # the supervisor dies, the container's processes stay
    os.kill(info["imds_pid"], signal.SIGKILL)
    host("down", "kwt-d")
    host("down", "kwt-d")                          # idempotent
    assert leftovers(host, "kwt-d") == []
