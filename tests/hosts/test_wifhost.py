"""Tests of the nspawn test hosts (the package tests/hosts/wifhost) and the wheelhouse checker.

The integration tests boot real containers, so they need root, debootstrap and
systemd-nspawn (scripts/bootstrap installs them). They use their own state dir, bridge and
subnet, so they do not disturb instances of a running molecule scenario.
Run: .venv/bin/pytest tests/hosts
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WIFHOST = HERE / "wifhost"   # run as `python3 tests/hosts/wifhost ...`, as every caller does
BRIDGE = "kwiftest0"
HOST_ADDR = "10.213.9.1/24"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


wheelcheck = load("wheelcheck")
# The package, from its parent directory. A test patches a name in the module that owns it (state.STATE_ROOT,
# net.instance_running): the other modules look it up there at call time.
sys.path.insert(0, str(HERE))
from wifhost import cli, instance, net, proc, runtimes, state, tls  # noqa: E402

# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize("name", ["", "Upper", "1abc", "a_b", "x" * 40, "../etc"])
def test_bad_instance_names_are_rejected(name):
    with pytest.raises(state.WifHostError, match="instance name"):
        state.check_name(name)


def up_args(**over):
    args = cli.parser().parse_args(["up", "t", "--ip", "10.213.0.5/24", "--account-id", "111111111111",
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
    with pytest.raises(state.WifHostError, match=field):
        instance.validate_up(up_args(**over), net.parse_host_addr("10.213.0.1/24"))


def test_runtimes_validate_their_options(monkeypatch):
    monkeypatch.setattr(runtimes, "emulator_url", lambda: None)
    with pytest.raises(state.WifHostError, match="--runtime"):
        instance.validate_up(up_args(runtime="lambda"), net.parse_host_addr("10.213.0.1/24"))
    with pytest.raises(state.WifHostError, match="--no-imds"):
        instance.validate_up(up_args(runtime="ecs", no_imds=True), net.parse_host_addr("10.213.0.1/24"))
    with pytest.raises(state.WifHostError, match="--service-account"):
        instance.validate_up(up_args(runtime="ecs", service_account="litellm"), net.parse_host_addr("10.213.0.1/24"))
    with pytest.raises(state.WifHostError, match="emulator must run"):
        instance.validate_up(up_args(runtime="irsa"), net.parse_host_addr("10.213.0.1/24"))
    with pytest.raises(state.WifHostError, match="--account-id"):
        instance.validate_up(up_args(runtime="ecs", account_id=None), net.parse_host_addr("10.213.0.1/24"))
    instance.validate_up(up_args(runtime="ecs"), net.parse_host_addr("10.213.0.1/24"))
    assert not instance.has_imds(up_args(runtime="ecs"))
    assert instance.has_imds(up_args())


def test_runtime_environments_are_what_the_sdks_read():
    assert runtimes.environment("ec2", "111111111111", "r", "us-east-1") == {}
    assert runtimes.environment("irsa", "111111111111", "r", "eu-west-1") == {
        "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/r",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional"}
    pod = runtimes.environment("pod-identity", "111111111111", "r", "us-east-1")
    assert pod["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials"
    assert pod["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == \
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
    ecs = runtimes.environment("ecs", "111111111111", "r", "us-east-1", "/v2/credentials/x")
    assert ecs["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == "/v2/credentials/x"
    assert not [k for k in ecs if k.startswith(("AWS_ROLE", "AWS_WEB", "AWS_CONTAINER_AUTH"))]
    assert runtimes.subject_of("litellm/litellm") == "system:serviceaccount:litellm:litellm"
    assert runtimes.region_of("eu-west-1b") == "eu-west-1"


@pytest.mark.parametrize("addr", ["8.8.8.1/24", "169.254.0.1/16", "10.213.0.1/31", "nonsense"])
def test_host_addr_must_be_private(addr):
    with pytest.raises(state.WifHostError, match="--host-addr"):
        net.parse_host_addr(addr)


def test_names_that_are_global_on_the_host_are_short_and_stable():
    assert state.veth_host("bound") == state.veth_host("bound")
    assert state.veth_host("bound") != state.veth_host("unbound")
    assert len(state.veth_host("x" * 31)) <= 15
    assert len(net.fw_chain("kwifbr0-with-a-long-name")) <= 28


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
    """Runs wifhost with a private state dir, bridge and subnet; tears everything down after."""
    env = {**os.environ, "KWIF_STATE_DIR": str(tmp_path / "state"), "KWIF_BRIDGE": BRIDGE,
           "KWIF_HOST_ADDR": HOST_ADDR}

    def call(*argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, str(WIFHOST), *argv], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"wifhost {' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
        return result

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
    assert not [x for x in left if "kwt-a" in x or state.veth_host("kwt-a") in x], left
    assert [i["name"] for i in json.loads(host("status", "--json").stdout)["instances"]] == ["kwt-b"]
    host("down", "--all")
    assert leftovers(host, "kwt-a", "kwt-b") == []


@pytest.mark.slow
def test_a_failed_up_leaves_nothing(host, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("aws: {credential_secret: 5}\n")      # the IMDS refuses this config and exits
    result = host("up", "kwt-c", "--ip", "10.213.9.13/24", "--account-id", "111111111111", "--role", "r1",
                "--emulator-config", str(bad), check=False)
    assert result.returncode == 2
    assert "IMDS" in result.stderr
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


@pytest.mark.slow
def test_a_killed_run_does_not_block_the_next_on_another_network(host):
    """A run killed mid-way (as at the end of a CI job) leaves an instance with no process left; the
    next run, on another bridge, removes those leftovers instead of refusing to start."""
    host("up", "kwt-e", "--ip", "10.213.9.15/24", "--account-id", "111111111111", "--role", "r1")
    for group in ("nspawn-kwt-e", "kwif-imds-kwt-e"):
        proc.signal_pids(proc.cgroup_pids(group), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (proc.cgroup_pids("nspawn-kwt-e") or proc.cgroup_pids("kwif-imds-kwt-e")) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    other = ["--bridge", "kwiftest1", "--host-addr", "10.213.8.1/24"]
    result = host("up", "kwt-f", "--ip", "10.213.8.11/24", *other, "--account-id", "111111111111", "--role", "r1")
    assert "removing leftovers of kwt-e" in result.stderr
    assert [i["name"] for i in json.loads(host("status", "--json").stdout)["instances"]] == ["kwt-f"]
    left = leftovers(host, "kwt-e")
    assert not [x for x in left if "kwt-e" in x or state.veth_host("kwt-e") in x or BRIDGE in x], left
    assert not net.link_exists(BRIDGE)


# botocore's own provider chain, run in the instance's namespace by this machine's .venv Python (the
# image's Debian botocore 1.29 predates Pod Identity). The token files live in the container's /run,
# so the probe gets a copy; STS is the emulator on the bridge (the namespace has no /etc/hosts of its own).
CHAIN_PROBE = """
import json, botocore.session
s = botocore.session.get_session()
c = s.get_credentials()
ident = s.create_client("sts", region_name="us-east-1").get_caller_identity()
print(json.dumps({"method": c.method, "arn": ident["Arn"], "account": ident["Account"]}))
"""


def chain_in_netns(host, name: str, info: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_STS": f"http://{HOST_ADDR.split('/', maxsplit=1)[0]}:8470",
           **info["environment"]}
    for var in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
        if var in env:
            copy = tmp_path / f"{name}.token"
            copy.write_text(host("exec", name, "cat", env[var]).stdout)
            env[var] = str(copy)
    return subprocess.run(["ip", "netns", "exec", name, str(REPO / ".venv/bin/python"), "-c", CHAIN_PROBE], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_eks_and_ecs_runtimes_give_credentials_to_botocores_chain_and_leave_nothing(host, tmp_path):
    import yaml

    config = yaml.safe_load((HERE / "emulator-sandbox.yml").read_text())
    # the cluster's OIDC issuer, registered in the account (IRSA's STS and the Pod Identity agent trust it)
    config["aws"]["oidc_providers"] = [{"issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/KWIFTEST0000000000000000000000",
                                        "account_id": "111111111111", "audiences": ["sts.amazonaws.com"]}]
    cfg = tmp_path / "emulator.yml"
    cfg.write_text(yaml.safe_dump(config))
    host("emulator", "start", "--no-tls", "--config", str(cfg))
    infos = {}
    for name, runtime, ip in (("kwt-irsa", "irsa", "10.213.9.21/24"), ("kwt-pod", "pod-identity", "10.213.9.22/24"),
                              ("kwt-ecs", "ecs", "10.213.9.23/24")):
        infos[name] = json.loads(host("up", name, "--ip", ip, "--runtime", runtime, "--account-id", "111111111111",
                                      "--role", "wif-bound-role", "--emulator-config", str(cfg)).stdout)
        assert infos[name]["runtime"] == runtime
        assert state.read_json(Path(infos[name]["state_dir"]) / "instance.json")["environment"] == infos[name]["environment"]
    expected = {"kwt-irsa": "assume-role-with-web-identity", "kwt-pod": "container-role", "kwt-ecs": "container-role"}
    for name, info in infos.items():
        result = chain_in_netns(host, name, info, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        found = json.loads(result.stdout)
        assert found["method"] == expected[name]
        assert found["account"] == "111111111111"
        assert found["arn"].startswith("arn:aws:sts::111111111111:assumed-role/wif-bound-role/"), found
        # no instance metadata; the instance sees its runtime's files and variables, not the agent's process
        inside = host("exec", name, "sh", "-c", "python3 -c 'import socket; print(socket.socket().connect_ex((\"169.254.169.254\", 80)))';"
                      " cat /etc/keyless-wif-instance.json; ps -eo args", check=False).stdout
        assert inside.splitlines()[0] != "0"
        assert "container-credentials" not in inside
        assert '"runtime": "%s"' % info["runtime"] in inside
    modes = host("exec", "kwt-irsa", "stat", "-c", "%a", runtimes.IRSA_TOKEN_FILE).stdout.strip(), \
        host("exec", "kwt-pod", "stat", "-c", "%a", runtimes.POD_TOKEN_FILE).stdout.strip()
    assert modes == ("644", "644")
    assert set(infos["kwt-ecs"]["environment"]) == {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}
    # the agent address exists only in the instance's namespace
    assert "169.254.170.23" in subprocess.run(["ip", "netns", "exec", "kwt-pod", "ip", "-br", "a", "show", "lo"],
                                              capture_output=True, text=True, check=True).stdout
    assert "169.254.170" not in subprocess.run(["ip", "-br", "a"], capture_output=True, text=True, check=True).stdout
    host("down", "kwt-pod")
    assert not proc.cgroup_pids(runtimes.agent_cgroup("kwt-pod"))
    host("down", "--all")
    assert leftovers(host, *infos) == []


def test_a_network_in_use_is_never_taken_over(tmp_path, monkeypatch):
    """While an instance of the recorded network still runs, another network is refused, naming it."""
    state_dir = tmp_path / "state"
    monkeypatch.setattr(state, "STATE_ROOT", state_dir)
    (state_dir / "instances" / "busy").mkdir(parents=True)
    state.write_json(state_dir / "net.json", {"bridge": "lo", "host_addr": "127.0.0.1/8"})
    monkeypatch.setattr(net, "instance_running", lambda name: True)
    with pytest.raises(state.WifHostError, match=r"already up as lo 127.0.0.1/8, used by busy; asked for kwiftest1"):
        net.ensure_bridge("kwiftest1", "10.213.8.1/24", 8470, False)
    assert (state_dir / "instances" / "busy").is_dir()


# --------------------------------------------------------------------------- sandbox CA, TLS, names


BACKENDS = [
    pytest.param("cryptography", marks=pytest.mark.skipif(not tls.have_cryptography(),
                                                          reason="cryptography not importable")),
    pytest.param("openssl", marks=pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command")),
]
# What the brief for the test hosts promises to resolve (tls.SANDBOX_NAMES may hold more).
REQUIRED_NAMES = [
    "sts.googleapis.com", "iamcredentials.googleapis.com", "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com", "aiplatform.googleapis.com", "us-central1-aiplatform.googleapis.com",
    "us-east1-aiplatform.googleapis.com", "europe-west4-aiplatform.googleapis.com",
    "sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "sts.us-east-2.amazonaws.com",
    "sts.us-west-1.amazonaws.com", "sts.us-west-2.amazonaws.com",
]


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str) -> str:
    """A TLS handshake in memory (no socket): returns the version, raises ssl.SSLError."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, obj, out, peer_in in (("client", client, c_out, s_in), ("server", server, s_out, c_in)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return client.version()
    raise AssertionError("handshake did not finish")


def server_context(certs: dict) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["server_cert"], certs["server_key"])
    return ctx


@pytest.mark.parametrize("backend", BACKENDS)
def test_sandbox_ca_signs_a_server_certificate_for_every_name(tmp_path, backend):
    certs = tls.ensure_sandbox_tls(tmp_path / "tls", backend=backend)
    assert certs["backend"] == backend
    assert set(REQUIRED_NAMES) <= set(certs["names"]) == set(tls.SANDBOX_NAMES)
    for f in ("ca.key", "server.key"):
        assert (tmp_path / "tls" / f).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls" / "ca.crt").stat().st_mode & 0o777 == 0o644
    client = ssl.create_default_context(cafile=certs["ca_cert"])   # hostname check on, as every client has it
    server = server_context(certs)
    for name in tls.SANDBOX_NAMES:
        assert handshake(server, client, name) in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(server_context(certs), client, "www.googleapis.com")
    with pytest.raises(ssl.SSLCertVerificationError):   # the system store alone does not trust it
        handshake(server_context(certs), ssl.create_default_context(), "sts.googleapis.com")
    # the CA is a CA (and only for one level); the server certificate is not
    ca_text = subprocess.run(["openssl", "x509", "-in", certs["ca_cert"], "-noout", "-text"], capture_output=True,
                             text=True, check=True).stdout
    srv_text = subprocess.run(["openssl", "x509", "-in", certs["server_cert"], "-noout", "-text"], capture_output=True,
                              text=True, check=True).stdout
    assert "CA:TRUE, pathlen:0" in ca_text and "Certificate Sign" in ca_text
    assert "CA:FALSE" in srv_text and "TLS Web Server Authentication" in srv_text
    assert "DNS:sts.us-east-1.amazonaws.com" in srv_text


def test_sandbox_ca_is_made_once_and_the_server_certificate_renewed(tmp_path):
    d = tmp_path / "tls"
    first = tls.ensure_sandbox_tls(d)
    ca, server = (d / "ca.crt").read_bytes(), (d / "server.crt").read_bytes()
    tls.ensure_sandbox_tls(d)
    assert ((d / "ca.crt").read_bytes(), (d / "server.crt").read_bytes()) == (ca, server)   # reused as is
    # other names: a new server certificate from the same CA
    tls.ensure_sandbox_tls(d, names=["sts.googleapis.com", "extra.example.test"])
    assert (d / "ca.crt").read_bytes() == ca
    assert (d / "server.crt").read_bytes() != server
    certs = tls.ensure_sandbox_tls(d)
    handshake(server_context(certs), ssl.create_default_context(cafile=first["ca_cert"]), "iam.googleapis.com")
    # close to its end: re-issued, same CA
    server = (d / "server.crt").read_bytes()
    late = time.time() + 86400 * (tls.SERVER_CERT_DAYS - tls.SERVER_CERT_RENEW_DAYS + 1)
    tls.ensure_sandbox_tls(d, now=late)
    assert (d / "ca.crt").read_bytes() == ca
    assert (d / "server.crt").read_bytes() != server
    # a damaged or half-written set (the CA key does not match what certs.json recorded): all new
    (d / "ca.key").write_text("garbage")
    tls.ensure_sandbox_tls(d)
    assert (d / "ca.crt").read_bytes() != ca
    assert not list(d.glob(".new-*"))


def test_instance_hosts_file_points_every_endpoint_name_at_the_emulator():
    text = tls.instance_hosts("10.213.4.1")
    entries = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            addr, *names = line.split()
            for n in names:
                entries.setdefault(n, addr)
    assert entries["localhost"] == "127.0.0.1"
    assert {n: entries.get(n) for n in tls.SANDBOX_NAMES} == dict.fromkeys(tls.SANDBOX_NAMES, "10.213.4.1")
    assert set(REQUIRED_NAMES) <= set(entries)
    # nothing else is redirected (the IMDS and every other name keep working as before)
    assert set(entries) == {"localhost", "ip6-localhost", "ip6-loopback", *tls.SANDBOX_NAMES}
    with pytest.raises(ValueError):
        tls.instance_hosts("sts.googleapis.com")


def test_firewall_lets_instances_reach_both_emulator_ports_only():
    rules = net.firewall_rules("kwifbr0", 8470)
    accepted = [r[r.index("--dport") + 1] for r in rules if "--dport" in r and r[-1] == "ACCEPT"]
    assert accepted == ["8470", str(state.TLS_PORT)] == ["8470", "443"]
    assert rules[-1][-1] == "REJECT"


def test_emulator_answers_over_tls_with_the_sandbox_certificate(tmp_path):
    sys.path.insert(0, str(REPO / "emulator"))
    from wif_emulator.server import EmulatorServer, tls_server_context

    certs = tls.ensure_sandbox_tls(tmp_path / "tls")
    srv = EmulatorServer(HERE / "emulator-sandbox.yml", tls_listen=("127.0.0.1", 0),
                         tls_context=tls_server_context(certs["server_cert"], certs["server_key"])).start()
    try:
        assert srv.tls_base_url == f"https://127.0.0.1:{srv.tls_port}"
        client = ssl.create_default_context(cafile=certs["ca_cert"])
        with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as raw, \
                client.wrap_socket(raw, server_hostname="us-central1-aiplatform.googleapis.com") as conn:
            conn.sendall(b"GET /_emulator/healthz HTTP/1.1\r\nHost: us-central1-aiplatform.googleapis.com\r\n"
                         b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as plain:   # the plain listener too
            plain.sendall(b"GET /_emulator/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert plain.recv(4096).startswith(b"HTTP/1.1 200 ")
    finally:
        srv.stop()
