"""An in-process EC2 (moto's server on loopback) and the fleet the documented inventory is run on.

Shared by test_aws_ec2_inventory.py (pytest) and run_sandbox_checks.py (scripts/test sandbox).
Every client here is pointed at the loopback server with fake credentials; nothing else is
contacted. The module name is unique because pytest imports test helpers as top-level modules.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[3]
# The documented inventory, used as users use it: the directory (aws_ec2.yml + group_vars/).
EXAMPLE_INVENTORY = REPO / "docs" / "examples" / "inventory"
REGION = "eu-west-1"  # the region the example inventory lists
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAMOTOFAKEKEY00001", "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-not-a-credential"}
# The sandbox bridge's subnet: the sandbox hosts' addresses are private IPs in it.
SUBNET_CIDR = "10.213.0.0/24"
START_TIMEOUT = 30
TAG_KEY, TAG_VALUE = "keyless-wif", "litellm"
EC2_TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@dataclass(frozen=True)
class InstanceSpec:
    name: str  # the Name tag
    private_ip: str
    role: str  # IAM role behind the instance profile of the same name
    tagged: bool = True  # keyless-wif=litellm
    stopped: bool = False


@dataclass(frozen=True)
class Instance:
    spec: InstanceSpec
    instance_id: str
    profile_arn: str


class MotoEc2:
    """moto's server on 127.0.0.1 (a free port), stopped on exit."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self) -> MotoEc2:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
        # start() waits without a bound for the server thread; a failed bind would hang it.
        starter = threading.Thread(target=self._server.start, daemon=True)
        starter.start()
        starter.join(START_TIMEOUT)
        if starter.is_alive():
            raise RuntimeError("moto's server did not start within %d s" % START_TIMEOUT)
        host, port = self._server.get_host_and_port()
        if host != "127.0.0.1":
            raise RuntimeError("moto must listen on loopback only, not %s" % host)
        self.url = "http://127.0.0.1:%d" % port
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def inventory_env(self) -> dict[str, str]:
        """What amazon.aws.aws_ec2 needs to talk to this server instead of AWS (and nothing else)."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        env.update(FAKE_CREDENTIALS, AWS_URL=self.url, AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        return env

    def launch(self, specs: list[InstanceSpec]) -> list[Instance]:
        """One role + instance profile per role name, one instance per spec, in a subnet of SUBNET_CIDR."""
        ec2, iam = self.client("ec2"), self.client("iam")
        profiles: dict[str, str] = {}
        for role in sorted({spec.role for spec in specs}):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
            profile = iam.create_instance_profile(InstanceProfileName=role)["InstanceProfile"]
            iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
            profiles[role] = profile["Arn"]
        vpc_id = ec2.create_vpc(CidrBlock=SUBNET_CIDR)["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
        image_id = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        launched = []
        for spec in specs:
            tags = [{"Key": "Name", "Value": spec.name}]
            if spec.tagged:
                tags.append({"Key": TAG_KEY, "Value": TAG_VALUE})
            instance = ec2.run_instances(
                ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet_id,
                PrivateIpAddress=spec.private_ip, IamInstanceProfile={"Arn": profiles[spec.role]},
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]
            if spec.stopped:
                ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
            launched.append(Instance(spec, instance["InstanceId"], profiles[spec.role]))
        return launched


def ansible_inventory_list(sources: list[Path], env: dict[str, str], timeout: float = 120) -> dict:
    """`ansible-inventory -i SOURCE... --list`, as JSON (ansible-core 2.19's inventory profile)."""
    cmd = ["ansible-inventory"]
    for source in sources:
        cmd += ["-i", str(source)]
    proc = subprocess.run([*cmd, "--list"], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError("ansible-inventory failed (rc %d):\n%s" % (proc.returncode, proc.stderr[-4000:]))
    return json.loads(proc.stdout)


def plain(value):
    """A value of ansible-inventory's JSON without its {"__ansible_unsafe": ...} wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
