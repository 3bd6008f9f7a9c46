# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Kubernetes manifests of the litellm_eks role: a LiteLLM proxy on EKS with keyless credentials.

``build(settings)`` checks the role's variables (eks_inputs.check) and returns the manifests, in apply order: Namespace,
ServiceAccount, Secret, Deployment, Service. The credential JSON comes from
external_account.build() in explicit mode (only ``aws_region_name``: boto3's default chain
then finds the IRSA or Pod Identity credentials the EKS webhook or agent injects), the
config.yaml from proxy_config.build_config(). Nothing here talks to a cluster.
"""

from __future__ import annotations

import hashlib
import json
import posixpath

from ansible_collections.keyless.wif.plugins.module_utils.wif import host_layout, proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.eks_inputs import MASTER_KEY_ENV, check, plain

# Kubernetes minor versions Amazon EKS supports (standard or extended support, February 2026:
# 1.29 extended support ends 2026-03-23) that kubernetes-validate ships schemas for.
EKS_KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35")

# Inside the pod.
# In the pod, the Secret is mounted where the host roles put the same files.
CONFIG_DIR = host_layout.CONFIG_DIR
CONFIG_FILE = "config.yaml"
CREDENTIAL_PATH = host_layout.CREDENTIAL_PATH
CREDENTIAL_FILE = posixpath.basename(CREDENTIAL_PATH)
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir in the pod, the only writable path
LIVENESS_PATH = "/health/liveliness"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
IRSA_STS_ANNOTATION = "eks.amazonaws.com/sts-regional-endpoints"
CHECKSUM_ANNOTATION = "keyless.wif/config-sha256"
# The container's environment besides the master key. AWS_EC2_METADATA_DISABLED: without IRSA or
# Pod Identity, boto3 must fail rather than fall back to the node's instance role.
POD_ENVIRONMENT = proxy_config.BASE_ENVIRONMENT + (
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
    ("HOME", TMP_DIR),
)


def build(settings):
    """The manifests (a list of dicts) in apply order; with state absent, the objects to delete (kind + name)."""
    settings = plain(settings)
    checked = check(settings)
    labels = _labels(checked["name"])
    namespace, name = checked["namespace"], checked["name"]
    if checked["state"] == "absent":
        # Delete order: the workload first, the namespace last (and only when the role owns it).
        found = [_meta("v1", "Service", name, namespace, labels), _meta("apps/v1", "Deployment", name, namespace, labels),
                 _meta("v1", "Secret", name, namespace, labels), _meta("v1", "ServiceAccount", name, namespace, labels)]
        if checked["manage_namespace"]:
            found.append(_meta("v1", "Namespace", namespace, None, labels))
        return found
    manifests = []
    if checked["manage_namespace"]:
        manifests.append(namespace_manifest(namespace, labels))
    manifests.append(service_account_manifest(checked, labels))
    secret = secret_manifest(checked, labels)
    manifests.append(secret)
    manifests.append(deployment_manifest(checked, labels, _checksum(secret)))
    manifests.append(service_manifest(checked, labels))
    return manifests


# Every file name the role may write to litellm_eks_manifest_dir (state absent removes them all).
FILE_NAMES = tuple("%02d-%s.yaml" % (index, kind) for index, kind in
                   enumerate(("namespace", "serviceaccount", "secret", "deployment", "service"), 1))


def file_list(settings):
    """[{name, content, secret}] for litellm_eks_manifest_dir: NN-kind.yaml, in apply order.

    secret is true for the Secret when it carries the master key (the role writes it without diff).
    """
    settings = plain(settings)
    checked = check(settings)
    result = []
    for manifest in build(settings):
        name = [entry for entry in FILE_NAMES if entry.endswith("-%s.yaml" % manifest["kind"].lower())][0]
        result.append({"name": name, "content": dump(manifest),
                       "secret": manifest["kind"] == "Secret" and not checked.get("master_key_secret_name")})
    return result


def summary(settings):
    """The checked inputs without any secret: {state, namespace, name, file_names}."""
    checked = check(settings)
    return {"state": checked["state"], "namespace": checked["namespace"], "name": checked["name"],
            "file_names": list(FILE_NAMES)}


def dump(manifest):
    """One manifest as YAML, keys in the builder's order (stable: a second render is byte-identical)."""
    return _yaml().safe_dump(manifest, default_flow_style=False, sort_keys=False, width=1000)


def namespace_manifest(namespace, labels):
    document = _meta("v1", "Namespace", namespace, None, labels)
    # Pod Security admission: the pod below meets the "restricted" profile, so enforce it.
    document["metadata"]["labels"].update({
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    })
    return document


def service_account_manifest(checked, labels):
    document = _meta("v1", "ServiceAccount", checked["name"], checked["namespace"], labels)
    if checked["aws_auth"] == "irsa":
        document["metadata"]["annotations"] = {IRSA_ANNOTATION: checked["aws_role_arn"], IRSA_STS_ANNOTATION: "true"}
    # The proxy never calls the Kubernetes API; the IRSA webhook and the Pod Identity agent
    # project their own token volume whatever this says.
    document["automountServiceAccountToken"] = False
    return document


def secret_manifest(checked, labels):
    document = _meta("v1", "Secret", checked["name"], checked["namespace"], labels)
    document["type"] = "Opaque"
    data = {
        CONFIG_FILE: _yaml().safe_dump(checked["config"], default_flow_style=False, sort_keys=False, indent=2),
        CREDENTIAL_FILE: json.dumps(checked["credentials"], indent=2, sort_keys=True) + "\n",
    }
    if not checked["master_key_secret_name"]:
        data[MASTER_KEY_ENV] = checked["master_key"]
    document["stringData"] = data
    return document


def deployment_manifest(checked, labels, checksum):
    name, port = checked["name"], checked["port"]
    selector = {"app.kubernetes.io/name": labels["app.kubernetes.io/name"], "app.kubernetes.io/instance": name}
    environment = [{"name": key, "value": value} for key, value in POD_ENVIRONMENT]
    environment += [{"name": key, "value": value} for key, value in sorted(checked["environment"].items())]
    environment.append({"name": MASTER_KEY_ENV, "valueFrom": {"secretKeyRef": {
        "name": checked["master_key_secret_name"] or name, "key": MASTER_KEY_ENV}}})
    container = {
        "name": "litellm",
        "image": checked["image"],
        "imagePullPolicy": checked["image_pull_policy"],
        "args": ["--config", "%s/%s" % (CONFIG_DIR, CONFIG_FILE), "--host", "0.0.0.0", "--port", str(port),  # noqa: S104
                 "--num_workers", str(checked["num_workers"])],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": environment,
        "resources": checked["resources"],
        "startupProbe": _probe(proxy_config.READINESS_PATH, period=5, failures=36, timeout=5),
        "livenessProbe": _probe(LIVENESS_PATH, period=20, failures=3, timeout=5),
        "readinessProbe": _probe(proxy_config.READINESS_PATH, period=10, failures=3, timeout=5),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": checked["run_as_user"],
            "runAsGroup": checked["run_as_user"],
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": TMP_DIR},
        ],
    }
    secret_items = [{"key": CONFIG_FILE, "path": CONFIG_FILE}, {"key": CREDENTIAL_FILE, "path": CREDENTIAL_FILE}]
    document = _meta("apps/v1", "Deployment", name, checked["namespace"], labels)
    document["spec"] = {
        "replicas": checked["replicas"],
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": dict(labels), "annotations": {CHECKSUM_ANNOTATION: checksum}},
            "spec": {
                "serviceAccountName": name,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": 30,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": checked["run_as_user"],
                    "runAsGroup": checked["run_as_user"],
                    "fsGroup": checked["run_as_user"],
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [
                    {"name": "config", "secret": {"secretName": name, "defaultMode": 0o440, "items": secret_items}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                ],
            },
        },
    }
    return document


def service_manifest(checked, labels):
    document = _meta("v1", "Service", checked["name"], checked["namespace"], labels)
    document["spec"] = {
        "type": checked["service_type"],
        "selector": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"], "app.kubernetes.io/instance": checked["name"]},
        "ports": [{"name": "http", "port": checked["port"], "targetPort": "http", "protocol": "TCP"}],
    }
    return document


def _checksum(secret):
    """Changes when the Secret's content changes, so the Deployment rolls its pods."""
    return hashlib.sha256(json.dumps(secret["stringData"], sort_keys=True).encode("utf-8")).hexdigest()


def _probe(path, period, failures, timeout):
    return {"httpGet": {"path": path, "port": "http", "scheme": "HTTP"}, "periodSeconds": period,
            "failureThreshold": failures, "timeoutSeconds": timeout, "successThreshold": 1}


def _labels(name):
    return {"app.kubernetes.io/name": "litellm", "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "proxy", "app.kubernetes.io/managed-by": "keyless.wif"}


def _meta(api_version, kind, name, namespace, labels):
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _yaml():
    # PyYAML comes with ansible-core on the controller, where the role's filter runs; module_utils
    # must import without it (ansible-test sanity "import").
    import yaml

    return yaml
