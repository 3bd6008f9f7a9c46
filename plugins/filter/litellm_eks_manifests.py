# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_eks_manifests
short_description: The Kubernetes manifests of the litellm_eks role (a keyless LiteLLM proxy on EKS)
version_added: 0.1.0
description:
  - Builds, from the C(keyless.wif.litellm_eks) role's variables, the manifests in apply order
    (C(plugins/module_utils/wif/eks_manifests.py)) a Namespace (when C(litellm_eks_manage_namespace)), a ServiceAccount
    (annotated C(eks.amazonaws.com/role-arn) for IRSA), a Secret with C(config.yaml), the explicit-mode external_account
    credential JSON and, unless an existing Secret is named, the master key, a Deployment and a Service.
  - With C(litellm_eks_state=absent), the objects to delete (apiVersion, kind, name, namespace), the workload first.
  - Checks every variable first and fails naming the variable and the rule. The master key is never shown in a message,
    but it is in the Secret manifest this filter returns; tasks that use it set C(no_log).
  - C(litellm_eks_inputs) runs the same checks and returns only a summary without secrets; C(litellm_eks_manifest_files)
    returns the manifests as YAML files for a GitOps directory.
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_eks_image), ...).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Apply the manifests
  kubernetes.core.k8s:
    definition: "{{ item }}"
    apply: true
  loop: "{{ litellm_eks__variables | keyless.wif.litellm_eks_manifests }}"
  no_log: true

- name: Write them for review
  ansible.builtin.copy:
    content: "{{ item.content }}"
    dest: "/srv/gitops/litellm/{{ item.name }}"
    mode: "0600"
  loop: "{{ litellm_eks__variables | keyless.wif.litellm_eks_manifest_files }}"
  no_log: "{{ item.secret }}"
"""

RETURN = r"""
_value:
  description:
    - C(litellm_eks_manifests) a list of manifests (dicts), in apply order (delete order with state absent).
    - C(litellm_eks_manifest_files) a list of C({name, content, secret}), C(name) such as C(03-secret.yaml), C(secret) true
      for the file that carries the master key.
    - C(litellm_eks_inputs) C({state, namespace, name, file_names}); C(file_names) every file name the role may write.
  type: raw
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import eks_manifests
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError


def _run(function, settings, name):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("%s expects a dict of the litellm_eks role's variables" % name)
    try:
        return function(settings)
    except ValidationError as exc:
        raise AnsibleFilterError("invalid input: %s" % exc) from None


def litellm_eks_manifests(settings):
    return _run(eks_manifests.build, settings, "litellm_eks_manifests")


def litellm_eks_manifest_files(settings):
    return _run(eks_manifests.file_list, settings, "litellm_eks_manifest_files")


def litellm_eks_inputs(settings):
    return _run(eks_manifests.summary, settings, "litellm_eks_inputs")


class FilterModule:
    def filters(self):
        return {
            "litellm_eks_manifests": litellm_eks_manifests,
            "litellm_eks_manifest_files": litellm_eks_manifest_files,
            "litellm_eks_inputs": litellm_eks_inputs,
        }
