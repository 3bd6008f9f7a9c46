"""Attribute-mapping comparison and the pool/provider lifecycle driver (no network)."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.gcp.resources import (
    DEFAULT_AWS_ATTRIBUTE_MAPPING,
    ensure_lro_resource,
    normalize_cel,
    normalize_mapping,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.resources import PROVIDER_FIELDS as FIELDS


def test_normalize_cel_ignores_layout_but_not_literals():
    assert normalize_cel("  a  ==\n 'x  y' ") == "a == 'x  y'"
    assert normalize_cel("a=='x'") != normalize_cel("a == 'x'")  # tokens differ, kept distinct
    assert normalize_cel('f("a \\" b"   )') == 'f("a \\" b" )'


def test_mapping_default_equivalences():
    spelled = dict(DEFAULT_AWS_ATTRIBUTE_MAPPING)
    spelled["attribute.aws_role"] = spelled["attribute.aws_role"].replace(" ? ", "\n  ? ").replace(" : ", "\n  : ")
    assert normalize_mapping(None) == normalize_mapping({}) == normalize_mapping(spelled)
    assert normalize_mapping({"google.subject": "assertion.arn"}) != normalize_mapping(None)


class FakeResource:
    """Stands in for LroResource: an in-memory resource with Google's soft delete."""

    def __init__(self, current=None):
        self.current = current
        self.calls = []
        self.name = "projects/1/locations/global/workloadIdentityPools/p/providers/x"

    def get(self):
        self.calls.append(("get",))
        return None if self.current is None else dict(self.current)

    def create(self, body):
        self.calls.append(("create", body))
        self.current = dict(body, name=self.name, state="ACTIVE")
        if "attributeMapping" not in body:
            self.current["attributeMapping"] = dict(DEFAULT_AWS_ATTRIBUTE_MAPPING)

    def undelete(self):
        self.calls.append(("undelete",))
        self.current["state"] = "ACTIVE"

    def patch(self, body, mask):
        self.calls.append(("patch", sorted(mask), body))
        self.current.update(body)

    def delete(self):
        self.calls.append(("delete",))
        self.current["state"] = "DELETED"


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode


def desired(**kw):
    out = {f.option: None for f in FIELDS}
    out["attribute_mapping"] = dict(DEFAULT_AWS_ATTRIBUTE_MAPPING)
    out.update(kw)
    return out


def writes(res):
    return [c for c in res.calls if c[0] != "get"]


def test_create_then_noop_with_default_mapping():
    res = FakeResource()
    changed, _after, before, view, actions = ensure_lro_resource(
        FakeModule(), res, FIELDS, desired(account_id="111111111111"), "present")
    assert changed and actions == ["create"] and before == {}
    assert view["account_id"] == "111111111111" and view["state"] == "ACTIVE"
    res.calls.clear()
    changed, *_unused1 = ensure_lro_resource(FakeModule(), res, FIELDS, desired(account_id="111111111111"), "present")
    assert not changed and writes(res) == []


def test_server_filled_default_mapping_compares_equal_when_option_omitted():
    res = FakeResource({"name": "n", "state": "ACTIVE", "aws": {"accountId": "111111111111"}})  # no mapping returned
    changed, *_unused1 = ensure_lro_resource(FakeModule(), res, FIELDS, desired(account_id="111111111111"), "present")
    assert not changed


def test_patch_sends_exactly_the_changed_fields():
    res = FakeResource({"name": "n", "state": "ACTIVE", "displayName": "a", "description": "d",
                        "aws": {"accountId": "111111111111"}, "attributeMapping": dict(DEFAULT_AWS_ATTRIBUTE_MAPPING)})
    changed, _unused1, before, after, actions = ensure_lro_resource(
        FakeModule(), res, FIELDS, desired(display_name="a", description="new", account_id="111111111111"), "present")
    assert changed and actions == ["update description"]
    assert writes(res) == [("patch", ["description"], {"description": "new"})]
    assert before["description"] == "d" and after["description"] == "new"


def test_deleted_is_undeleted_then_patched():
    res = FakeResource({"name": "n", "state": "DELETED", "disabled": False, "aws": {"accountId": "111111111111"}})
    _changed, _unused1, before, after, actions = ensure_lro_resource(
        FakeModule(), res, FIELDS, desired(disabled=True, account_id="111111111111"), "present")
    assert actions == ["undelete", "update disabled"]
    assert [c[0] for c in writes(res)] == ["undelete", "patch"]
    assert before["state"] == "DELETED" and after["state"] == "ACTIVE" and after["disabled"] is True


def test_check_mode_predicts_without_writing():
    res = FakeResource({"name": "n", "state": "DELETED", "aws": {"accountId": "111111111111"}})
    changed, predicted, _unused1, after, actions = ensure_lro_resource(
        FakeModule(check_mode=True), res, FIELDS, desired(description="x", account_id="222222222222"), "present")
    assert changed and actions == ["undelete", "update description,aws"]
    assert writes(res) == []
    assert predicted["aws"] == {"accountId": "222222222222"} and after["state"] == "ACTIVE"


@pytest.mark.parametrize("current", [None, {"name": "n", "state": "DELETED"}])
def test_absent_on_absent_or_deleted_is_not_a_change(current):
    res = FakeResource(current)
    changed, *_unused1 = ensure_lro_resource(FakeModule(), res, FIELDS, desired(), "absent")
    assert not changed and writes(res) == []


def test_absent_deletes_active():
    res = FakeResource({"name": "n", "state": "ACTIVE"})
    changed, after, _unused1, view, actions = ensure_lro_resource(FakeModule(), res, FIELDS, desired(), "absent")
    assert changed and actions == ["delete"] and after["state"] == "DELETED" and view["state"] == "DELETED"


def test_validate_existing_runs_before_writes():
    res = FakeResource({"name": "n", "state": "DELETED", "oidc": {}})

    def refuse(resource):
        raise ValueError("oidc")

    with pytest.raises(ValueError):
        ensure_lro_resource(FakeModule(), res, FIELDS, desired(account_id="111111111111"), "present", validate_existing=refuse)
    assert writes(res) == []


def test_create_answered_already_exists_converges_on_the_existing_resource():
    from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError

    class Raced(FakeResource):
        def create(self, body):
            # Someone else (or our own retried request) created it between our GET and POST.
            self.calls.append(("create", body))
            self.current = {"name": self.name, "state": "ACTIVE", "description": "theirs",
                            "aws": {"accountId": "111111111111"}}
            raise GcpError("exists", http_status=409, google_status="ALREADY_EXISTS")

    res = Raced()
    changed, _unused1, _unused2, after, actions = ensure_lro_resource(
        FakeModule(), res, FIELDS, desired(description="mine", account_id="111111111111"), "present")
    assert changed and actions == ["create", "update description"] and after["description"] == "mine"
