"""The AWS runtimes an instance can imitate besides EC2: EKS IRSA, EKS Pod Identity and ECS task roles.

None of them has instance metadata; each gives the workload its AWS identity the way the real
runtime does, through environment variables and files that boto3's default chain reads:

- ``irsa``: a projected service account token (a JWT minted by the emulator's admin API, as if
  by the cluster's OIDC issuer) at ``/var/run/secrets/eks.amazonaws.com/serviceaccount/token``,
  plus ``AWS_ROLE_ARN`` / ``AWS_WEB_IDENTITY_TOKEN_FILE``: boto3 calls STS
  AssumeRoleWithWebIdentity (``sts.REGION.amazonaws.com``, the emulator).
- ``pod-identity``: the EKS Pod Identity agent at ``169.254.170.23:80`` (the emulator's
  container-credentials server, run by the host inside the instance's namespace, on its
  loopback) and the pod token at ``/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/
  eks-pod-identity-token``, which boto3 sends as the Authorization header.
- ``ecs``: the ECS agent's credentials endpoint at ``169.254.170.2:80`` (same server, ecs
  mode) under a random ``/v2/credentials/UUID``, given as ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``.

The runtime environment is recorded in instance.json (``environment``) and in the instance's
``/etc/keyless-wif-instance.json``; molecule hands it to the proxy's unit.
"""

from __future__ import annotations

import json
import shlex
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from . import state
from .net import netns_exec, wait_tcp_in_netns
from .proc import pid_alive, run, spawn_in_cgroup
from .state import EMULATOR_PATH, WifHostError, read_json, write_json

RUNTIMES = ("ec2", "irsa", "pod-identity", "ecs")
IRSA_TOKEN_FILE = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
POD_TOKEN_FILE = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
POD_IDENTITY_ADDR = "169.254.170.23"
ECS_ADDR = "169.254.170.2"
AGENT_ADDR = {"pod-identity": POD_IDENTITY_ADDR, "ecs": ECS_ADDR}
IRSA_AUDIENCE = "sts.amazonaws.com"
POD_AUDIENCE = "pods.eks.amazonaws.com"
# A projected token's default lifetime (expirationSeconds 86400; the kubelet renews it at 80 %).
TOKEN_TTL_SECONDS = 86400
DEFAULT_SERVICE_ACCOUNT = "litellm/litellm"


def agent_cgroup(name: str) -> str:
    return f"kwif-agent-{name}"


def region_of(zone: str) -> str:
    return zone[:-1]


def subject_of(service_account: str) -> str:
    namespace, _, account = service_account.partition("/")
    return f"system:serviceaccount:{namespace}:{account}"


def validate(args) -> None:
    if args.runtime == "ec2":
        return
    if args.no_imds:
        raise WifHostError(f"--no-imds: the {args.runtime} runtime never has instance metadata; drop the option")
    if not args.service_account or args.service_account.count("/") != 1 or "" in args.service_account.split("/"):
        raise WifHostError(f"--service-account {args.service_account!r}: must be NAMESPACE/NAME")
    if args.runtime in ("irsa", "pod-identity") and not emulator_url():
        raise WifHostError(f"--runtime {args.runtime}: the emulator must run (wifhost emulator start) to mint the "
                           "service account token")


def emulator_url() -> str | None:
    meta = read_json(state.STATE_ROOT / "emulator.json")
    return meta.get("url") if pid_alive(meta.get("pid")) else None


def mint_token(path: str, body: dict) -> dict:
    """POSTs to one of the emulator's admin endpoints (on the bridge address or loopback); returns its JSON."""
    url = emulator_url()
    if not url:
        raise WifHostError("the emulator does not run (wifhost emulator start)")
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",  # noqa: S310 - the emulator's http URL
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:   # noqa: S310 - the emulator's own http URL
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        raise WifHostError(f"emulator {path} answered HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}") from None
    except (OSError, ValueError) as exc:
        raise WifHostError(f"emulator {path}: {exc}") from None


def irsa_token(account_id: str, service_account: str, ttl: int = TOKEN_TTL_SECONDS) -> dict:
    return mint_token("/_emulator/aws/web-identity-token",
                      {"account_id": account_id, "subject": subject_of(service_account), "audience": IRSA_AUDIENCE,
                       "ttl_seconds": ttl})


def pod_token(account_id: str, service_account: str, ttl: int = TOKEN_TTL_SECONDS) -> dict:
    return mint_token("/_emulator/aws/pod-identity-token",
                      {"account_id": account_id, "subject": subject_of(service_account), "audience": POD_AUDIENCE,
                       "ttl_seconds": ttl})


def environment(runtime: str, account_id: str, role: str, region: str, relative_uri: str | None = None) -> dict:
    """What the runtime puts into the workload's environment (EKS webhooks, ECS agent)."""
    if runtime == "ec2":
        return {}
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    if runtime == "irsa":
        env |= {"AWS_ROLE_ARN": f"arn:aws:iam::{account_id}:role/{role}", "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE,
                "AWS_STS_REGIONAL_ENDPOINTS": "regional"}
    elif runtime == "pod-identity":
        env |= {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{POD_IDENTITY_ADDR}/v1/credentials",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": POD_TOKEN_FILE, "AWS_STS_REGIONAL_ENDPOINTS": "regional"}
    elif runtime == "ecs":
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = relative_uri
    return env


def start_agent(args, name: str, info: dict, d: Path) -> None:
    """Pod Identity / ECS: the credentials endpoint on the namespace's loopback, in cgroup kwif-agent-NAME.

    Called after the namespace exists and before the container boots (as the IMDS is).
    """
    runtime = args.runtime
    region = region_of(args.availability_zone)
    relative_uri = f"/v2/credentials/{uuid.uuid4()}" if runtime == "ecs" else None
    info["runtime"] = runtime
    info["aws"] = {"account_id": args.account_id, "role": args.role, "region": region,
                   "service_account": args.service_account}
    info["environment"] = environment(runtime, args.account_id, args.role, region, relative_uri)
    write_json(d / "instance.json", info)
    if runtime not in AGENT_ADDR:
        return
    addr = AGENT_ADDR[runtime]
    # Only this namespace has the address, on its loopback, as 169.254.169.254 for the IMDS.
    netns_exec(name, ["ip", "addr", "add", f"{addr}/32", "dev", "lo"])
    argv = ["ip", "netns", "exec", name, args.python, "-m", "wif_emulator", "container-credentials",
            "--config", str(Path(args.emulator_config).resolve()), "--listen", f"{addr}:80", "--mode", runtime,
            "--account-id", args.account_id, "--role", args.role]
    if relative_uri:
        argv += ["--relative-uri", relative_uri]
    if runtime == "pod-identity":   # the association: this role for this service account only
        argv += ["--service-account", args.service_account.replace("/", ":")]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(EMULATOR_PATH), "PYTHONUNBUFFERED": "1",
           "LANG": "C.UTF-8"}
    info["agent_pid"] = spawn_in_cgroup(argv, agent_cgroup(name), d / "agent.log", env=env)
    info["agent_cgroup"] = agent_cgroup(name)
    info["agent_url"] = f"http://{addr}" + (relative_uri or "/v1/credentials")
    write_json(d / "instance.json", info)
    try:
        wait_tcp_in_netns(name, addr, 80, 20, lambda: pid_alive(info["agent_pid"]))
    except WifHostError as exc:
        tail = "\n".join((d / "agent.log").read_text(errors="replace").splitlines()[-20:])
        raise WifHostError(f"{exc}; credentials agent log tail:\n{tail}") from None


def token_for(args) -> tuple[str, str] | None:
    """(path inside the instance, token) of the runtime's service account token, minted now."""
    if args.runtime == "irsa":
        return IRSA_TOKEN_FILE, irsa_token(args.account_id, args.service_account)["token"]
    if args.runtime == "pod-identity":
        return POD_TOKEN_FILE, pod_token(args.account_id, args.service_account)["token"]
    return None


def install_token(ssh: list[str], path: str, token: str) -> None:
    """Writes the token inside the running instance (mode 0644, as the projected volume has it).

    /var/run is /run, a tmpfs nspawn mounts at boot, so the file is written over SSH after boot.
    """
    directory = path.rsplit("/", 1)[0]
    script = (f"set -e; umask 022; mkdir -p {shlex.quote(directory)}; cat > {shlex.quote(path)}.new; "
              f"chmod 0644 {shlex.quote(path)}.new; mv {shlex.quote(path)}.new {shlex.quote(path)}")
    result = run([*ssh, script], check=False, input=token)
    if result.returncode != 0:
        raise WifHostError(f"writing {path} in the instance failed: {(result.stderr or '').strip()}")
