# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""GcpModule: the AnsibleModule every GCP module runs in.

Shared options, validation before any credential or network work, a lazy client, check and
diff mode, one-line failures, and the settling of writes whose answer was lost.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import (
    AUTH_KINDS,
    HAS_GOOGLE_AUTH,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    build_session,
    resolve_endpoints,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.client import GcpClient
from ansible_collections.keyless.wif.plugins.module_utils.gcp.consistency import ConsistencyWindow
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpAuthError, GcpError
from ansible_collections.keyless.wif.plugins.module_utils.gcp.iam import apply_bindings, binding_view
from ansible_collections.keyless.wif.plugins.module_utils.gcp.in_process import InProcessModule, active_args
from ansible_collections.keyless.wif.plugins.module_utils.gcp.retry import RetryPolicy
from ansible_collections.keyless.wif.plugins.module_utils.wif.names import EMAIL_RE, is_service_account_email, service_account_email
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import (
    ValidationError,
    check_email_project,
    check_project,
    check_sa_account_id,
)


class _Captured(Exception):
    """Raised in place of exit_json while a body re-runs in check mode to re-read the state."""


def gcp_argument_spec():
    """Options shared by every GCP module (documented in doc_fragments/gcp.py)."""
    return dict(
        project=dict(type="str", required=True, fallback=(env_fallback, ["GCP_PROJECT"])),
        auth_kind=dict(type="str", choices=AUTH_KINDS, default="application",
                       fallback=(env_fallback, ["GCP_AUTH_KIND"])),
        service_account_file=dict(type="path", fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE"])),
        service_account_contents=dict(type="jsonarg", no_log=True,
                                      fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"])),
        access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        external_account_file=dict(type="path", fallback=(env_fallback, ["GCP_EXTERNAL_ACCOUNT_FILE"])),
        scopes=dict(type="list", elements="str", fallback=(env_fallback, ["GCP_SCOPES"])),
        endpoints=dict(type="dict", options=dict(
            iam=dict(type="str"),
            cloudresourcemanager=dict(type="str"),
            serviceusage=dict(type="str"),
            sts=dict(type="str"),
            iamcredentials=dict(type="str"),
        )),
        request_timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=8, fallback=(env_fallback, ["GCP_RETRIES"])),
        retry_timeout=dict(type="float", default=120.0, fallback=(env_fallback, ["GCP_RETRY_TIMEOUT"])),
        wait_timeout=dict(type="float", default=300.0),
        consistency_timeout=dict(type="float", default=120.0, fallback=(env_fallback, ["GCP_CONSISTENCY_TIMEOUT"])),
        token_cache=dict(type="bool", default=True, fallback=(env_fallback, ["GCP_TOKEN_CACHE"])),
        token_cache_dir=dict(type="path", fallback=(env_fallback, ["GCP_TOKEN_CACHE_DIR"])),
        impersonate_service_account=dict(type="str", fallback=(env_fallback, ["GCP_IMPERSONATE_SERVICE_ACCOUNT"])),
        impersonate_delegates=dict(type="list", elements="str",
                                   fallback=(env_fallback, ["GCP_IMPERSONATE_DELEGATES"])),
    )


GCP_REQUIRED_IF = [
    ("auth_kind", "serviceaccount", ("service_account_file", "service_account_contents"), True),
    ("auth_kind", "accesstoken", ("access_token",)),
    ("auth_kind", "external_account", ("external_account_file",)),
]
GCP_MUTUALLY_EXCLUSIVE = [("service_account_file", "service_account_contents")]


def resource_argument_spec(**options):
    """``options`` plus the fields every managed resource has: display_name, description, disabled, state."""
    spec = dict(options)
    spec.update(
        display_name=dict(type="str"),
        description=dict(type="str"),
        disabled=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    return spec


def check_service_account_ref(field, value):
    """A service account given as an account ID or as its e-mail (checked before any request)."""
    if "@" in value and not EMAIL_RE.fullmatch(value):
        raise ValidationError(field, "must be an account ID or a service-account e-mail address", value)
    check_sa_account_id(field, value.split("@", 1)[0])


def check_impersonation(target, delegates):
    """impersonate_service_account and impersonate_delegates: service-account e-mails, a chain without repeats."""
    rule = "must be a service-account e-mail address (NAME@PROJECT.iam.gserviceaccount.com)"
    if target is not None and not is_service_account_email(target):
        raise ValidationError("impersonate_service_account", rule, target)
    delegates = delegates or []
    if delegates and not target:
        raise ValidationError("impersonate_delegates", "needs impersonate_service_account (the account at the end of the chain)",
                              delegates)
    for index, email in enumerate(delegates):
        field = "impersonate_delegates[%d]" % index
        if not is_service_account_email(email):
            raise ValidationError(field, rule, email)
        if email == target or email in delegates[:index]:
            raise ValidationError(field, "is already in the chain (impersonate_delegates then impersonate_service_account)",
                                  email)


def make_diff(before, after, fields=None):
    """before/after dicts restricted to managed fields, for Ansible's diff mode."""
    def pick(src):
        if src is None:
            return {}
        keys = fields if fields is not None else sorted(src)
        return {k: src.get(k) for k in keys if k in src}
    return {"before": pick(before), "after": pick(after)}


def _ansible_module(**kwargs):
    """An AnsibleModule in a module process; in the controller's worker (gcp_action), its stand-in."""
    args = active_args()
    if args is None:
        return AnsibleModule(**kwargs)
    return InProcessModule(args, **kwargs)


# --------------------------------------------------------------------------------------
# Module base class
# --------------------------------------------------------------------------------------

class GcpModule:
    """AnsibleModule wrapper: shared options, lazy client, one-line failures."""

    def __init__(self, argument_spec=None, required_if=None, mutually_exclusive=None, **kwargs):
        spec = gcp_argument_spec()
        spec.update(argument_spec or {})
        kwargs.setdefault("supports_check_mode", True)
        self._module = _ansible_module(
            argument_spec=spec,
            required_if=list(GCP_REQUIRED_IF) + list(required_if or []),
            mutually_exclusive=list(GCP_MUTUALLY_EXCLUSIVE) + list(mutually_exclusive or []),
            **kwargs)
        if not HAS_REQUESTS:
            self._module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        if not HAS_GOOGLE_AUTH and (self.params.get("auth_kind") != "accesstoken"
                                    or self.params.get("impersonate_service_account")):
            self._module.fail_json(msg=missing_required_lib("google-auth"))
        self.check_mode = self._module.check_mode
        self.diff_mode = self._module._diff
        self._client = None
        self._projects = {}

    @property
    def params(self):
        return self._module.params

    def warn(self, msg):
        self._module.warn(msg)

    @property
    def client(self):
        """Built on first use, so validation always runs before any credential or network work."""
        if self._client is None:
            endpoints = resolve_endpoints(self.params.get("endpoints"))
            session = build_session(self.params, endpoints, warn=self.warn)
            policy = RetryPolicy(retries=self.params["retries"], max_total=self.params["retry_timeout"])
            window = ConsistencyWindow(self.params["consistency_timeout"])
            # The real --check (self.check_mode is also set while a lost write's outcome is re-read).
            self._client = GcpClient(session, endpoints, policy, request_timeout=self.params["request_timeout"],
                                     warn=self.warn, consistency=window, check_mode=self._module.check_mode)
        return self._client

    def validate_common(self):
        check_project(self.params["project"])
        if self.params["retries"] < 0:
            raise ValidationError("retries", "must be 0 or more", self.params["retries"])
        for field in ("retry_timeout", "wait_timeout", "request_timeout"):
            if self.params[field] <= 0:
                raise ValidationError(field, "must be a positive number of seconds", self.params[field])
        if self.params["consistency_timeout"] < 0:
            raise ValidationError("consistency_timeout", "must be 0 or more seconds", self.params["consistency_timeout"])
        resolve_endpoints(self.params.get("endpoints"))
        check_impersonation(self.params.get("impersonate_service_account"), self.params.get("impersonate_delegates"))

    def project_info(self, project=None):
        """CRM v1 projects.get for ``project`` (default: the module's project), cached per project."""
        project = project or self.params["project"]
        if project not in self._projects:
            self._projects[project] = self.client.request(
                "GET", "cloudresourcemanager", "v1/projects/%s" % project,
                resource="projects/%s" % project, action="read project")
        return self._projects[project]

    def project_id(self):
        """The project ID (looked up when the project option is a number)."""
        project = self.params["project"]
        if project.isdigit():
            return self.project_info()["projectId"]
        return project

    def project_number(self, project=None):
        """The number of ``project`` (default: the module's project); read only when given by ID."""
        project = project or self.params["project"]
        if project.isdigit():
            return project
        return str(self.project_info(project)["projectNumber"])

    def service_account(self, field, value, same_project=False):
        """(account_id, email) of a service account given by ID (in the module's project) or e-mail.

        ``same_project``: an e-mail must belong to the module's project.
        """
        if "@" in value:
            if same_project:
                check_email_project(field, value, self.project_id())
            return value.split("@", 1)[0], value
        return value, service_account_email(value, self.project_id())

    def ensure_bindings(self, target, wanted, present):
        """Additive IAM change by read-modify-write of ``target`` (an IamPolicyTarget).

        Returns (changed, before_view, after_view, policy).
        """
        client = self.client
        changed, before, after = client.modify_iam_policy(
            lambda: target.read(client), lambda policy: target.write(client, policy),
            lambda policy: apply_bindings(policy, wanted, present), check_mode=self.check_mode)
        return changed, binding_view(before, wanted), binding_view(after, wanted), after

    def run(self, body):
        """Run ``body(self)`` turning every expected failure into one fail_json line."""
        try:
            self.validate_common()
            body(self)
        except ValidationError as exc:
            self._module.fail_json(msg="invalid input: %s" % exc, field=exc.field, rule=exc.rule)
        except GcpAuthError as exc:
            self._module.fail_json(msg=str(exc), changed=self._wrote(), **self._retries())
        except GcpError as exc:
            if exc.write_uncertain and not self.check_mode:
                self._settle_uncertain_write(body, exc)
            self._module.fail_json(msg=str(exc), changed=self._wrote(), writes_done=self._writes(),
                                   **dict(exc.as_result(), **self._retries()))

    def _settle_uncertain_write(self, body, exc):
        """A write failed with no clear answer: re-read (the body in check mode) to tell whether it landed.

        If nothing is left to change, it landed: the task succeeds, changed, with the re-read
        result.  Otherwise the failure stands, reported as not changed.
        """
        retried = list(self._client.retried)
        writes = list(self._client.writes)
        outcome = {}

        def capture(**result):
            outcome.update(result)
            raise _Captured()

        real_exit = self._module.exit_json
        self.check_mode = True
        self._module.exit_json = capture
        try:
            body(self)
        except _Captured:
            pass
        except (GcpError, GcpAuthError, ValidationError):
            outcome = {}
        finally:
            self._module.exit_json = real_exit
            self.check_mode = False
        self._client.retried = retried + [{"http_status": exc.http_status, "google_status": exc.google_status,
                                           "path": "re-read after a write with no clear answer", "wait": 0}]
        self._client.writes = writes
        if outcome and not outcome.get("changed"):
            outcome.pop("changed", None)
            outcome["retries_used"] = list(self._client.retried)
            outcome["write_landed_despite"] = str(exc)
            self._module.exit_json(changed=True, **outcome)

    def _retries(self):
        if self._client and self._client.retried:
            return {"retries_used": list(self._client.retried)}
        return {}

    def _wrote(self):
        return bool(self._client and self._client.writes)

    def _writes(self):
        return ["%s %s" % w for w in self._client.writes] if self._client else []

    def exit(self, changed, before=None, after=None, diff_fields=None, **result):
        if self.diff_mode and (before is not None or after is not None):
            result["diff"] = make_diff(before, after, diff_fields)
        if self._client and self._client.retried:
            result["retries_used"] = list(self._client.retried)
        self._module.exit_json(changed=changed, **result)
