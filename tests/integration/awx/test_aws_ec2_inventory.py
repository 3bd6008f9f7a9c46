"""The documented amazon.aws.aws_ec2 inventory (docs/examples/inventory), run against moto's EC2.

The inventory directory is used unchanged, as the README tells users to run it (`-i inventory/`);
only the endpoint and fake credentials come from the environment (AWS_URL, AWS_ACCESS_KEY_ID…).
"""

from __future__ import annotations

import pytest
import yaml
from moto_ec2 import EXAMPLE_INVENTORY, InstanceSpec, MotoEc2, ansible_inventory_list, plain

FLEET = [
    InstanceSpec("proxy-1", "10.213.0.41", "litellm-proxy-role"),
    InstanceSpec("proxy-2", "10.213.0.42", "litellm-proxy-role"),
    InstanceSpec("proxy-other-role", "10.213.0.43", "batch-role"),
    InstanceSpec("untagged", "10.213.0.44", "litellm-proxy-role", tagged=False),
    InstanceSpec("stopped", "10.213.0.45", "litellm-proxy-role", stopped=True),
]


@pytest.fixture(scope="module")
def inventory():
    with MotoEc2() as moto:
        instances = moto.launch(FLEET)
        listing = plain(ansible_inventory_list([EXAMPLE_INVENTORY], moto.inventory_env()))
        yield {"instances": {i.spec.name: i for i in instances}, "listing": listing}


def _wanted(inventory):
    return {i.instance_id: i for i in inventory["instances"].values() if i.spec.tagged and not i.spec.stopped}


def test_litellm_hosts_holds_exactly_the_tagged_running_instances(inventory):
    wanted = _wanted(inventory)
    assert len(wanted) == 3
    assert sorted(inventory["listing"]["litellm_hosts"]["hosts"]) == sorted(wanted)


def test_untagged_and_stopped_instances_are_nowhere(inventory):
    hostvars = inventory["listing"]["_meta"]["hostvars"]
    for name in ("untagged", "stopped"):
        assert inventory["instances"][name].instance_id not in hostvars
    assert sorted(hostvars) == sorted(_wanted(inventory))


def test_hosts_are_named_by_instance_id_and_reached_at_their_private_ip(inventory):
    hostvars = inventory["listing"]["_meta"]["hostvars"]
    for instance_id, instance in _wanted(inventory).items():
        host = hostvars[instance_id]
        assert host["instance_id"] == instance_id
        assert host["ansible_host"] == instance.spec.private_ip == host["private_ip_address"]
        assert host["tags"] == {"Name": instance.spec.name, "keyless-wif": "litellm"}
        # The role site.yml discovers on the host is the one behind this profile.
        assert host["iam_instance_profile"]["arn"] == instance.profile_arn
        assert host["state"]["name"] == "running"


def test_every_host_gets_the_documented_group_vars(inventory):
    documented = yaml.safe_load((EXAMPLE_INVENTORY / "group_vars" / "all.yml").read_text())
    assert {"gcp_federation_project", "keyless_wif_gcp_module_defaults", "litellm_proxy_models"} <= set(documented)
    hostvars = inventory["listing"]["_meta"]["hostvars"]
    for instance_id in _wanted(inventory):
        for name, value in documented.items():
            assert hostvars[instance_id][name] == value, name
