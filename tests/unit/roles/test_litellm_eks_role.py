"""The litellm_eks role through ansible-playbook on localhost, without a cluster.

With litellm_eks_apply false and litellm_eks_manifest_dir in a temporary directory: --check --diff
shows the manifests and writes nothing; a real run writes them; every file is valid against the
Kubernetes schemas of every EKS version (kubernetes-validate, strict); a second run and a second
--check report no change; bad input fails before any change; state absent removes the files.
The kubernetes.core.k8s path is run in check mode against a closed loopback port only.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible_collections.keyless.wif.plugins.module_utils.wif import eks_manifests

pytestmark = pytest.mark.slow
KEY = "sk-" + "7f" * 20
VARIABLES = {
    "litellm_eks_image": "ghcr.io/berriai/litellm@sha256:" + "0123456789abcdef" * 4,
    "litellm_eks_aws_role_arn": "arn:aws:iam::123456789012:role/litellm-vertex",
    "litellm_eks_aws_region": "us-east-1",
    "litellm_eks_audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-eks/providers/aws-eks",
    "litellm_eks_service_account_email": "litellm-vertex@my-project.iam.gserviceaccount.com",
    "litellm_eks_master_key": KEY,
    "litellm_eks_models": [{"name": "gemini-flash", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "my-project",
                            "vertex_location": "us-central1"}],
    "litellm_eks_apply": False,
}
RECAP_RE = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)")


def play(tmp_path, extra, *options):
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "roles": ["keyless.wif.litellm_eks"]}]))
    variables = tmp_path / ("vars-%d.json" % len(list(tmp_path.glob("vars-*.json"))))
    variables.write_text(json.dumps(dict(VARIABLES, **extra)))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default")
    env.pop("KUBECONFIG", None)
    env.pop("K8S_AUTH_KUBECONFIG", None)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % variables, *options],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    recap = RECAP_RE.search(result.stdout)
    return result, (int(recap.group(2)) if recap else None)


def validate_dir(directory):
    files = sorted(directory.glob("*.yaml"))
    for path in files:
        manifest = yaml.safe_load(path.read_text())
        for version in eks_manifests.EKS_KUBERNETES_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)
    return [path.name for path in files]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """check --diff on an empty directory, a real run, a second run, a second check: in this order."""
    tmp = tmp_path_factory.mktemp("litellm_eks")
    out = tmp / "manifests"
    extra = {"litellm_eks_manifest_dir": str(out)}
    results = {"dir": out, "tmp": tmp}
    results["check"] = play(tmp, extra, "--check", "--diff")
    results["dir_after_check"] = out.exists()
    results["first"] = play(tmp, extra)
    results["files"] = {path.name: path.read_text() for path in sorted(out.glob("*.yaml"))}
    results["second"] = play(tmp, extra, "--diff")
    results["second_check"] = play(tmp, extra, "--check", "--diff")
    return results


def test_check_diff_shows_the_manifests_and_writes_nothing(runs):
    result, changed = runs["check"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert changed and changed > 0
    assert not runs["dir_after_check"]
    for text in ("+kind: Namespace", "+kind: ServiceAccount", "+kind: Deployment", "+kind: Service",
                 "+    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/litellm-vertex",
                 "+          readOnlyRootFilesystem: true", "+        image: " + VARIABLES["litellm_eks_image"]):
        assert text in result.stdout, text
    assert KEY not in result.stdout + result.stderr


def test_first_run_writes_valid_manifests_for_every_eks_version(runs):
    result, changed = runs["first"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert changed and changed > 0
    assert validate_dir(runs["dir"]) == list(eks_manifests.FILE_NAMES)
    for path in runs["dir"].glob("*.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(runs["dir"].stat().st_mode) == 0o700
    assert KEY not in result.stdout + result.stderr


def test_second_run_and_second_check_change_nothing(runs):
    for name in ("second", "second_check"):
        result, changed = runs[name]
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert changed == 0, name
    assert {path.name: path.read_text() for path in sorted(runs["dir"].glob("*.yaml"))} == runs["files"]


def test_the_validation_step_fails_on_a_broken_file(runs, tmp_path):
    broken = yaml.safe_load(runs["files"]["04-deployment.yaml"])
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = {"Gi": 1}
    (tmp_path / "04-deployment.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_dir(tmp_path)


def test_bad_input_fails_before_any_change(tmp_path):
    out = tmp_path / "manifests"
    result = play(tmp_path, {"litellm_eks_manifest_dir": str(out),
                             "litellm_eks_image": "ghcr.io/berriai/litellm:v1.108.14"})[0]
    assert result.returncode != 0
    assert "litellm_eks_image must be pinned by digest" in result.stdout
    assert not out.exists()
    assert KEY not in result.stdout + result.stderr


def test_absent_removes_the_files(tmp_path):
    out = tmp_path / "manifests"
    first = play(tmp_path, {"litellm_eks_manifest_dir": str(out)})[0]
    assert first.returncode == 0 and len(list(out.glob("*.yaml"))) == 5
    result, changed = play(tmp_path, {"litellm_eks_manifest_dir": str(out), "litellm_eks_state": "absent"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert changed == 1 and list(out.glob("*.yaml")) == []  # one task, five files


def test_k8s_apply_path_runs_in_check_mode_up_to_the_api_call(tmp_path):
    """kubernetes.core.k8s takes the manifests; the only failure is the closed loopback API (no cluster anywhere)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "none", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
    }))
    result = play(tmp_path, {"litellm_eks_apply": True, "litellm_eks_kubeconfig": str(kubeconfig)}, "--check", "--diff")[0]
    assert result.returncode != 0
    assert "TASK [keyless.wif.litellm_eks : Apply the manifests]" in result.stdout
    assert re.search(r"127\.0\.0\.1.*(Connection refused|Max retries)|Failed to get client", result.stdout), result.stdout[-3000:]
    assert KEY not in result.stdout + result.stderr
