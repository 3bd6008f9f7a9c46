"""keyless.wif.gcp_project_custom_role against the emulator, and controller_role.yml creating the role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .gcp_harness import ANSIBLE_PLAYBOOK, PROJECT_ID, PROJECT_NUMBER, module_defaults

REPO = Path(__file__).resolve().parents[3]
NAME = "projects/%s/roles/keylessController" % PROJECT_ID
PERMS = ["iam.workloadIdentityPools.get", "iam.workloadIdentityPools.create"]


def task(name="role", check=False, **options):
    args = {"role_id": "keylessController", "title": "keyless", "permissions": PERMS}
    args.update(options)
    return {"name": name, "keyless.wif.gcp_project_custom_role": args, "check_mode": check, "diff": True}


def stored(emu):
    return emu.state().get("custom_roles", {}).get(NAME)


def test_four_steps_then_update_delete_and_undelete(emu, play):
    result = play([task("c1", check=True), task("a1"), task("c2", check=True), task("a2")])
    assert result.rc == 0, result.output[-3000:]
    assert result["c1"]["result"]["changed"] and result["c1"]["result"]["actions"] == ["create"]
    assert result["c1"]["result"]["diff"]["after"]["permissions"] == sorted(PERMS)
    assert result["a1"]["result"]["changed"] and result["a1"]["result"]["name"] == NAME
    assert result["a1"]["result"]["role"]["included_permissions"] == sorted(PERMS)
    assert not result["c2"]["result"]["changed"] and not result["a2"]["result"]["changed"]
    assert stored(emu)["includedPermissions"] == sorted(PERMS)

    writes = len(emu.writes())
    updated = play([task("u0", check=True, permissions=PERMS[:1]), task("u1", permissions=PERMS[:1], project=PROJECT_NUMBER)])
    assert updated.rc == 0, updated.output[-3000:]
    assert updated["u0"]["result"]["actions"] == ["update includedPermissions"]
    assert updated["u1"]["result"]["actions"] == ["update includedPermissions"]
    assert len(emu.writes()) == writes + 1  # check mode wrote nothing
    assert stored(emu)["includedPermissions"] == PERMS[:1]

    gone = play([task("d0", check=True, state="absent"), task("d1", state="absent"), task("d2", state="absent")])
    assert gone.rc == 0, gone.output[-3000:]
    assert gone["d0"]["result"]["changed"] and gone["d1"]["result"]["actions"] == ["delete"]
    assert not gone["d2"]["result"]["changed"]
    assert stored(emu)["deleted"] is True

    back = play([task("r1"), task("r2")])
    assert back.rc == 0, back.output[-3000:]
    assert back["r1"]["result"]["actions"] == ["undelete", "update includedPermissions"]
    assert not back["r2"]["result"]["changed"]
    assert stored(emu)["deleted"] is False and stored(emu)["includedPermissions"] == sorted(PERMS)


def test_bad_inputs_fail_naming_the_option_before_any_request(emu, play):
    for options, field in (({"role_id": "a"}, "role_id"), ({"permissions": ["iam roles get"]}, "permissions[0]"),
                           ({"title": "t" * 101}, "title"), ({"permissions": None}, "permissions")):
        result = play([task(**options)])
        assert result.rc != 0
        assert result["role"]["result"]["field"] == field, result.output[-2000:]
    assert emu.requests() == []


def test_an_unknown_permission_is_refused_by_google(emu, play):
    result = play([task(permissions=["iam.workloadIdentityPools.creat"])])
    assert result.rc != 0
    assert "Permission iam.workloadIdentityPools.creat is not valid." in result.output
    assert stored(emu) is None


def test_the_playbook_creates_the_controller_role(emu, tmp_path):
    defaults = module_defaults(emu)["group/keyless.wif.gcp"]
    defaults.pop("project")
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    extra = json.dumps({"controller_role_project": PROJECT_ID, "keyless_wif_gcp_module_defaults": defaults,
                        "ansible_python_interpreter": sys.executable})
    for _ in range(2):
        proc = subprocess.run([ANSIBLE_PLAYBOOK, str(REPO / "playbooks" / "controller_role.yml"), "-e", extra],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "changed=0" in proc.stdout  # the second run changes nothing
    from ansible_collections.keyless.wif.plugins.module_utils.wif import permissions

    assert stored(emu)["includedPermissions"] == permissions.permission_set("all")
    assert stored(emu)["stage"] == "GA"
