"""The litellm_eks role's manifests: every security setting, the probes, the digest rule, bad inputs.

Each manifest is validated against the Kubernetes schemas (kubernetes-validate, strict) of every
EKS version in eks_manifests.EKS_KUBERNETES_VERSIONS, and a broken one must be refused.
"""

from __future__ import annotations

import copy
import json

import kubernetes_validate
import pytest
import yaml
from ansible_collections.keyless.wif.plugins.module_utils.wif import eks_inputs, eks_manifests, external_account
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

DIGEST = "ghcr.io/berriai/litellm@sha256:" + "0123456789abcdef" * 4
KEY = "sk-" + "a1" * 20
BASE = {
    "litellm_eks_state": "present",
    "litellm_eks_namespace": "litellm",
    "litellm_eks_name": "litellm-proxy",
    "litellm_eks_manage_namespace": True,
    "litellm_eks_image": DIGEST,
    "litellm_eks_image_pull_policy": "IfNotPresent",
    "litellm_eks_aws_auth": "irsa",
    "litellm_eks_aws_role_arn": "arn:aws:iam::123456789012:role/litellm-vertex",
    "litellm_eks_aws_region": "us-east-1",
    "litellm_eks_audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-eks/providers/aws-eks",
    "litellm_eks_service_account_email": "litellm-vertex@my-project.iam.gserviceaccount.com",
    "litellm_eks_token_url": "https://sts.googleapis.com/v1/token",
    "litellm_eks_iamcredentials_url": "https://iamcredentials.googleapis.com",
    "litellm_eks_universe_domain": "",
    "litellm_eks_master_key": KEY,
    "litellm_eks_master_key_secret_name": "",
    "litellm_eks_models": [{"name": "gemini-flash", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "my-project",
                            "vertex_location": "us-central1"}],
    "litellm_eks_litellm_settings": {},
    "litellm_eks_general_settings": {},
    "litellm_eks_environment": {},
    "litellm_eks_port": 4000,
    "litellm_eks_replicas": 2,
    "litellm_eks_num_workers": 1,
    "litellm_eks_run_as_user": 65532,
    "litellm_eks_service_type": "ClusterIP",
    "litellm_eks_resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}


def settings(**changes):
    result = copy.deepcopy(BASE)
    result.update({"litellm_eks_" + key: value for key, value in changes.items()})
    return result


def by_kind(manifests):
    return {manifest["kind"]: manifest for manifest in manifests}


def validate_all(manifest):
    """Validate one manifest for every EKS version; return the schema versions used."""
    return [kubernetes_validate.validate(manifest, version, strict=True) for version in eks_manifests.EKS_KUBERNETES_VERSIONS]


def test_the_eks_versions_have_schemas():
    shipped = {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()}
    assert set(eks_manifests.EKS_KUBERNETES_VERSIONS) <= shipped


@pytest.mark.parametrize("auth", ["irsa", "pod_identity"])
@pytest.mark.parametrize("secret_name", ["", "litellm-master-key"])
def test_every_manifest_is_valid_for_every_eks_version(auth, secret_name):
    extra = {"aws_auth": auth, "master_key_secret_name": secret_name}
    if auth == "pod_identity":
        extra["aws_role_arn"] = ""
    if secret_name:
        extra["master_key"] = None
    manifests = eks_manifests.build(settings(**extra))
    assert [m["kind"] for m in manifests] == ["Namespace", "ServiceAccount", "Secret", "Deployment", "Service"]
    for manifest in manifests:
        # The YAML files are what is applied or committed: validate them as read back.
        assert validate_all(yaml.safe_load(eks_manifests.dump(manifest))) == list(eks_manifests.EKS_KUBERNETES_VERSIONS)


def test_a_broken_manifest_is_refused_by_the_validator():
    deployment = by_kind(eks_manifests.build(settings()))["Deployment"]
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    missing = copy.deepcopy(deployment)
    del missing["spec"]["selector"]
    for broken in (typo, wrong_type, missing):
        for version in eks_manifests.EKS_KUBERNETES_VERSIONS:
            with pytest.raises(kubernetes_validate.ValidationError):
                kubernetes_validate.validate(broken, version, strict=True)


def test_deployment_security_settings_probes_and_resources():
    deployment = by_kind(eks_manifests.build(settings()))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65532
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "litellm-proxy"
    assert container["image"] == DIGEST
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/liveliness", "port": "http", "scheme": "HTTP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/readiness", "port": "http", "scheme": "HTTP"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health/readiness"
    # The only writable path is an emptyDir; the Secret is mounted read-only, without the master key.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/litellm"]["readOnly"] is True and set(mounts) == {"/etc/litellm", "/tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert [i["key"] for i in volumes["config"]["secret"]["items"]] == ["config.yaml", "gcp_aws_external_account.json"]
    assert volumes["tmp"]["emptyDir"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-proxy", "key": "LITELLM_MASTER_KEY"}
    assert env["AWS_EC2_METADATA_DISABLED"]["value"] == "true"
    assert not {"AWS_ROLE_NAME", "AWS_WEB_IDENTITY_TOKEN", "AWS_ACCESS_KEY_ID"} & set(env)
    assert "--config" in container["args"] and "/etc/litellm/config.yaml" in container["args"]


def test_namespace_enforces_restricted_pod_security():
    labels = by_kind(eks_manifests.build(settings()))["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_account_irsa_annotation_and_pod_identity():
    irsa = by_kind(eks_manifests.build(settings()))["ServiceAccount"]
    assert irsa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == BASE["litellm_eks_aws_role_arn"]
    pod_identity = by_kind(eks_manifests.build(settings(aws_auth="pod_identity", aws_role_arn="")))["ServiceAccount"]
    assert "annotations" not in pod_identity["metadata"]


def test_secret_holds_the_explicit_mode_credential_json_of_external_account_build():
    secret = by_kind(eks_manifests.build(settings()))["Secret"]
    credentials = json.loads(secret["stringData"]["gcp_aws_external_account.json"])
    assert credentials == external_account.build(eks_inputs._external_account_settings(BASE))
    assert credentials["aws_region_name"] == "us-east-1"
    assert credentials["credential_source"] == {"environment_id": "aws1"}
    assert external_account.mode(credentials) == "explicit" and external_account.problems(credentials) == []
    assert [k for k in credentials if k.startswith("aws_")] == ["aws_region_name"]
    config = yaml.safe_load(secret["stringData"]["config.yaml"])
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert config["model_list"][0]["litellm_params"]["vertex_credentials"] == "/etc/litellm/gcp_aws_external_account.json"
    assert secret["stringData"]["LITELLM_MASTER_KEY"] == KEY


def test_an_existing_master_key_secret_keeps_the_manifests_free_of_secrets():
    manifests = eks_manifests.build(settings(master_key=None, master_key_secret_name="litellm-master-key"))
    assert KEY not in json.dumps(manifests)
    secret = by_kind(manifests)["Secret"]
    assert "LITELLM_MASTER_KEY" not in secret["stringData"]
    env = {e["name"]: e for e in by_kind(manifests)["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "litellm-master-key"
    files = eks_manifests.file_list(settings(master_key=None, master_key_secret_name="litellm-master-key"))
    assert not any(f["secret"] for f in files)
    assert [f["secret"] for f in eks_manifests.file_list(settings())] == [False, False, True, False, False]


def test_config_change_rolls_the_deployment_and_rendering_is_stable():
    first = eks_manifests.file_list(settings())
    assert first == eks_manifests.file_list(settings())
    annotation = "keyless.wif/config-sha256"
    before = by_kind(eks_manifests.build(settings()))["Deployment"]["spec"]["template"]["metadata"]["annotations"][annotation]
    changed = settings(models=[dict(BASE["litellm_eks_models"][0], vertex_location="europe-west4")])
    after = by_kind(eks_manifests.build(changed))["Deployment"]["spec"]["template"]["metadata"]["annotations"][annotation]
    assert before != after


def test_absent_lists_the_objects_to_delete_workload_first():
    found = eks_manifests.build(settings(state="absent", image=None, master_key=None))
    assert [m["kind"] for m in found] == ["Service", "Deployment", "Secret", "ServiceAccount", "Namespace"]
    kept = eks_manifests.build(settings(state="absent", manage_namespace=False))
    assert "Namespace" not in [m["kind"] for m in kept]


@pytest.mark.parametrize("value", [
    "ghcr.io/berriai/litellm:v1.108.14",
    "ghcr.io/berriai/litellm:v1.108.14@sha256:" + "0" * 64,
    "ghcr.io/berriai/litellm",
    "ghcr.io/berriai/litellm@sha256:" + "0" * 63,
    "ghcr.io/berriai/litellm@sha256:" + "A" * 64,
    "ghcr.io/berriai/litellm@sha512:" + "0" * 64,
    "",
    None,
])
def test_image_must_be_pinned_by_digest(value):
    with pytest.raises(ValidationError) as caught:
        eks_manifests.build(settings(image=value))
    assert caught.value.field == "litellm_eks_image"


@pytest.mark.parametrize("value", ["ghcr.io/berriai/litellm@sha256:" + "0" * 64, "litellm@sha256:" + "f" * 64,
                                   "registry.example.com:5000/team/litellm-non_root@sha256:" + "ab" * 32])
def test_digest_references_are_accepted(value):
    assert eks_inputs.image("litellm_eks_image", value) == value


@pytest.mark.parametrize(("changes", "field"), [
    ({"state": "started"}, "litellm_eks_state"),
    ({"namespace": "Litellm"}, "litellm_eks_namespace"),
    ({"name": "a" * 64}, "litellm_eks_name"),
    ({"aws_auth": "kiam"}, "litellm_eks_aws_auth"),
    ({"aws_role_arn": ""}, "litellm_eks_aws_role_arn"),
    ({"aws_role_arn": "arn:aws:iam::123456789012:user/bob"}, "litellm_eks_aws_role_arn"),
    ({"aws_auth": "pod_identity"}, "litellm_eks_aws_role_arn"),
    ({"aws_region": ""}, "litellm_eks_aws_region"),
    ({"aws_region": "useast1"}, "litellm_eks_aws_region"),
    ({"audience": "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/aws-eks/providers/aws-eks"},
     "litellm_eks_audience"),
    ({"service_account_email": "bob@example.com"}, "litellm_eks_service_account_email"),
    ({"master_key": "sk-1234"}, "litellm_eks_master_key"),
    ({"master_key": None}, "litellm_eks_master_key"),
    ({"master_key_secret_name": "other"}, "litellm_eks_master_key, litellm_eks_master_key_secret_name"),
    ({"master_key": None, "master_key_secret_name": "Bad_Name"}, "litellm_eks_master_key_secret_name"),
    ({"models": []}, "litellm_eks_models"),
    ({"models": [{"name": "g", "model": "gemini/gemini-2.5-flash", "vertex_project": "my-project",
                  "vertex_location": "us-central1"}]}, "litellm_eks_models[0].model"),
    ({"models": [dict(BASE["litellm_eks_models"][0], extra_params={"model": "openai/gpt-4o"})]}, "litellm_eks_models[0]"),
    ({"general_settings": {"master_key": "sk-x"}}, "litellm_eks_general_settings"),
    ({"port": 80}, "litellm_eks_port"),
    ({"replicas": 0}, "litellm_eks_replicas"),
    ({"run_as_user": 0}, "litellm_eks_run_as_user"),
    ({"service_type": "ExternalName"}, "litellm_eks_service_type"),
    ({"image_pull_policy": "Never"}, "litellm_eks_image_pull_policy"),
    ({"resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}, "litellm_eks_resources"),
    ({"resources": {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
     "litellm_eks_resources.requests.cpu"),
    ({"resources": {"requests": {"cpu": "250m", "memory": "lots"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
     "litellm_eks_resources.requests.memory"),
    ({"environment": {"AWS_ROLE_NAME": "x"}}, "litellm_eks_environment[AWS_ROLE_NAME]"),
    ({"environment": {"AWS_ACCESS_KEY_ID": "AKIA"}}, "litellm_eks_environment[AWS_ACCESS_KEY_ID]"),
    ({"environment": {"LITELLM_MASTER_KEY": "sk-x"}}, "litellm_eks_environment[LITELLM_MASTER_KEY]"),
])
def test_bad_inputs_name_the_variable(changes, field):
    with pytest.raises(ValidationError) as caught:
        eks_manifests.build(settings(**changes))
    assert caught.value.field == field
    assert KEY not in str(caught.value)


def test_errors_never_show_the_master_key():
    with pytest.raises(ValidationError) as caught:
        eks_manifests.build(settings(master_key="sk-short-but-secret"))
    assert "sk-short-but-secret" not in str(caught.value)
