"""One home for the controller's permissions: module_utils/wif/permissions.py, read by the lookup."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.keyless.wif.plugins.lookup.controller_permissions import LookupModule
from ansible_collections.keyless.wif.plugins.module_utils.wif import permissions


def test_the_lookup_answers_the_sorted_union_of_the_sets():
    site = LookupModule().run(["site"])
    teardown = LookupModule().run(["teardown"])
    assert site == sorted(set(site)) and "iam.workloadIdentityPools.create" in site
    assert "iam.workloadIdentityPools.delete" not in site and "iam.workloadIdentityPools.delete" in teardown
    assert "iam.serviceAccounts.create" not in teardown
    assert LookupModule().run(["site", "teardown"]) == LookupModule().run(["all"]) == sorted(set(site) | set(teardown))
    assert LookupModule().run(["gcp_project_info:info"]) == ["resourcemanager.projects.get"]


@pytest.mark.parametrize(("term", "message"), [
    ("sites", "unknown permission set 'sites'"),
    ("gcp_nope:present", "unknown module 'gcp_nope'"),
    ("gcp_project_info:present", "module gcp_project_info has no state 'present'"),
])
def test_unknown_names_are_refused_naming_them(term, message):
    with pytest.raises(AnsibleLookupError, match=message):
        LookupModule().run([term])
    with pytest.raises(AnsibleLookupError, match="name at least one set"):
        LookupModule().run([])


def test_the_site_set_is_the_union_of_its_module_calls():
    expected = set()
    for module, state in permissions.SET_CALLS["site"]:
        expected.update(permissions.MODULES[module][state])
    assert permissions.permission_set("site") == sorted(expected)
