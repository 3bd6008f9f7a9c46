# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared lifecycle for IAM v1 resources whose writes are long-running operations.

Workload identity pools and providers behave alike: create/patch/delete/undelete
return an Operation, patch takes ``updateMask`` as a query parameter, and delete
is soft (the resource stays readable with ``state: DELETED``).  ``ensure_lro_resource``
implements present/absent once for both modules; POOL_FIELDS and PROVIDER_FIELDS are the
fields each manages.
"""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import Landed
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpError, snake
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    WIF_DESCRIPTION_MAX,
    WIF_DISPLAY_NAME_MAX,
    check_length,
    check_wif_id,
)


def _already_exists(exc):
    return exc.google_status == "ALREADY_EXISTS"


def _already_gone(exc):
    # Soft delete: a retried DELETE of a pool deleted by its first attempt answers 404 or 400
    # FAILED_PRECONDITION (already in state DELETED).
    return exc.is_not_found or exc.google_status == "FAILED_PRECONDITION"


def _not_deleted(exc):
    # A retried undelete after the first attempt landed: the resource is no longer DELETED.
    return exc.google_status == "FAILED_PRECONDITION"


# Google's default mapping for AWS providers (applied when none is given).
DEFAULT_AWS_ATTRIBUTE_MAPPING = {
    "google.subject": "assertion.arn",
    "attribute.aws_role": (
        "assertion.arn.contains('assumed-role') ? "
        "assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + "
        "assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
    ),
}


def normalize_cel(expr):
    """Collapse whitespace outside string literals so formatting differences compare equal."""
    if expr is None:
        return ""
    out = []
    quote = None
    escaped = False
    pending_space = False
    for char in expr.strip():
        if quote:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char.isspace():
            pending_space = True
            continue
        if pending_space and out:
            out.append(" ")
        pending_space = False
        out.append(char)
        if char in ("'", '"'):
            quote = char
    return "".join(out)


def normalize_mapping(mapping):
    """Attribute mapping compared by normalized CEL; empty/None means Google's AWS default."""
    if not mapping:
        mapping = DEFAULT_AWS_ATTRIBUTE_MAPPING
    return {str(k): normalize_cel(v) for k, v in mapping.items()}


class Field:
    """One managed field: option name, API updateMask name, how to read and write it."""

    def __init__(self, option, mask, read, write, normalize=None):
        self.option = option
        self.mask = mask
        self.read = read            # resource -> comparable value
        self.write = write          # value -> body fragment (dict)
        self.normalize = normalize or (lambda v: v)


def simple_field(option, api_key, empty=""):
    return Field(option, api_key,
                 read=lambda r: r.get(api_key, empty),
                 write=lambda v: {api_key: v})


# The fields every pool and provider has; the provider adds its mapping, condition and AWS account.
COMMON_FIELDS = [
    simple_field("display_name", "displayName"),
    simple_field("description", "description"),
    Field("disabled", "disabled", read=lambda r: bool(r.get("disabled", False)), write=lambda v: {"disabled": v}),
]
POOL_FIELDS = list(COMMON_FIELDS)
PROVIDER_FIELDS = COMMON_FIELDS + [
    Field("attribute_mapping", "attributeMapping", read=lambda r: r.get("attributeMapping"),
          write=lambda v: {"attributeMapping": v}, normalize=normalize_mapping),
    Field("attribute_condition", "attributeCondition", read=lambda r: r.get("attributeCondition", ""),
          write=lambda v: {"attributeCondition": v}, normalize=normalize_cel),
    Field("account_id", "aws", read=lambda r: (r.get("aws") or {}).get("accountId", ""),
          write=lambda v: {"aws": {"accountId": v}}),
]


class LroResource:
    """IAM v1 resource managed through Operations (pools, providers)."""

    def __init__(self, module, kind, *, parent, collection, id_param, resource_id):
        self.module = module
        self.kind = kind
        self.parent = parent
        self.collection = collection
        self.id_param = id_param
        self.resource_id = resource_id
        self.name = "%s/%s/%s" % (parent, collection, resource_id)

    @property
    def client(self):
        return self.module.client

    def get(self):
        return self.client.get_or_none("iam", "v1/" + self.name, resource=self.name, action="read " + self.kind)

    def _wait(self, operation, action):
        # A Landed answer has no operation: the first attempt's operation ran; callers re-read.
        if isinstance(operation, Landed):
            return
        self.client.wait_operation("iam", operation, self.module.params["wait_timeout"], resource=self.name,
                                   action=action)

    def create(self, body):
        action = "create " + self.kind
        op = self.client.request("POST", "iam", "v1/%s/%s" % (self.parent, self.collection),
                                 params={self.id_param: self.resource_id}, body=body, resource=self.name,
                                 action=action, landed_if=_already_exists)
        self._wait(op, action)

    def undelete(self):
        action = "undelete " + self.kind
        op = self.client.request("POST", "iam", "v1/%s:undelete" % self.name, body={}, resource=self.name,
                                 action=action, landed_if=_not_deleted)
        self._wait(op, action)

    def patch(self, body, mask):
        action = "update " + self.kind
        op = self.client.request("PATCH", "iam", "v1/" + self.name, params={"updateMask": ",".join(mask)},
                                 body=body, resource=self.name, action=action)
        self._wait(op, action)

    def delete(self):
        action = "delete " + self.kind
        op = self.client.request("DELETE", "iam", "v1/" + self.name, resource=self.name, action=action,
                                 landed_if=_already_gone)
        self._wait(op, action)


def field_view(resource, fields):
    """Managed fields of an API resource, normalized, keyed by option name."""
    view = {}
    for field in fields:
        view[field.option] = field.normalize(field.read(resource or {}))
    if resource is not None:
        view["state"] = resource.get("state", "ACTIVE")
    return view


def ensure_lro_resource(module, res, fields, desired, state, *, validate_existing=None):
    """Drive ``res`` to ``state``; return (changed, resource_after, diff_before, diff_after, actions).

    ``desired`` maps option name -> wanted value (None = leave as is).  Check mode
    predicts the outcome without writing.
    """
    check = module.check_mode
    current = res.get()
    before = field_view(current, fields) if current is not None else {}
    actions = []

    if state == "absent":
        if current is None or current.get("state") == "DELETED":
            return False, current, before, before, actions
        actions.append("delete")
        if not check:
            res.delete()
        after_res = dict(current, state="DELETED")
        return True, after_res, before, dict(before, state="DELETED"), actions

    if current is not None and validate_existing is not None:
        validate_existing(current)

    wanted = {f.option: f.normalize(desired[f.option]) for f in fields if desired.get(f.option) is not None}

    if current is None:
        actions.append("create")
        body = {}
        for field in fields:
            if desired.get(field.option) is not None:
                body.update(field.write(desired[field.option]))
        if check:
            predicted = dict(body, name=res.name, state="ACTIVE")
            return True, predicted, before, dict(field_view(predicted, fields)), actions
        try:
            res.create(body)
        except GcpError as exc:
            # ALREADY_EXISTS after our GET: a retried create that had landed, or a concurrent
            # writer. Either way the resource is there now: re-read and converge on it.
            if exc.google_status != "ALREADY_EXISTS":
                raise
            current = res.get()
            if current is None:
                raise
        else:
            current = res.get()
            return True, current, before, field_view(current, fields), actions

    if current.get("state") == "DELETED":
        actions.append("undelete")
        if check:
            current = dict(current, state="ACTIVE")
        else:
            res.undelete()
            current = res.get()

    now = field_view(current, fields)
    to_patch = [f for f in fields if f.option in wanted and now[f.option] != wanted[f.option]]
    if to_patch:
        actions.append("update " + ",".join(f.mask for f in to_patch))
        body = {}
        for field in to_patch:
            body.update(field.write(desired[field.option]))
        if check:
            current = _merge(current, body)
        else:
            res.patch(body, _unique([f.mask for f in to_patch]))
            current = res.get()
    changed = bool(actions)
    return changed, current, before, field_view(current, fields), actions


def _merge(resource, body):
    out = dict(resource)
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "attributeMapping":
            out[key] = dict(out[key], **value)
        else:
            out[key] = value
    return out


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def lro_result(resource):
    return snake(resource) if resource else {}


def check_pool_fields(params, *ids):
    """The checks pools and providers share: pool_id (then the other ``ids``), display name and description."""
    for option in ("pool_id",) + ids:
        check_wif_id(option, params[option])
    check_length("display_name", params["display_name"], WIF_DISPLAY_NAME_MAX)
    check_length("description", params["description"], WIF_DESCRIPTION_MAX)


def named_with_number(module, res, resource):
    """(name, resource) after the task; a predicted create (check mode) gets the project number its real name has."""
    name = (resource or {}).get("name", res.name)
    if module.check_mode and resource and not name.split("/")[1].isdigit():
        name = name.replace("projects/%s/" % module.params["project"], "projects/%s/" % module.project_number(), 1)
        resource = dict(resource, name=name)
    return name, resource


def resource_exit(module, changed, resource, before, after, actions, result_key, **result):
    """exit() with the fields both LRO modules return (with ``name``): state, actions and the resource itself."""
    module.exit(changed, before=before, after=after,
                state=(resource or {}).get("state", "ABSENT"),
                actions=actions,
                **dict(result, **{result_key: lro_result(resource)}))
