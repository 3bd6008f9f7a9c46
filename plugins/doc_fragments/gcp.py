# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by every keyless.wif GCP module."""

    DOCUMENTATION = r"""
options:
  project:
    description:
      - Google Cloud project ID (or project number) the module works in.
      - Falls back to the E(GCP_PROJECT) environment variable.
    type: str
    required: true
  auth_kind:
    description:
      - How to obtain Google credentials.
      - V(application) uses Application Default Credentials (E(GOOGLE_APPLICATION_CREDENTIALS),
        gcloud user credentials, or the metadata server of the machine running the module).
      - V(serviceaccount) uses a service-account key from O(service_account_file) or
        O(service_account_contents).
      - V(accesstoken) uses the OAuth2 access token in O(access_token) as is (no refresh).
      - V(external_account) uses a Workload Identity Federation credential configuration
        file (O(external_account_file)), so the controller itself can run keyless, for example
        from an AWS instance role.
      - Falls back to the E(GCP_AUTH_KIND) environment variable.
    type: str
    choices: [application, serviceaccount, accesstoken, external_account]
    default: application
  service_account_file:
    description:
      - Path to a service-account JSON key, used when O(auth_kind=serviceaccount).
      - Falls back to E(GCP_SERVICE_ACCOUNT_FILE).
      - Mutually exclusive with O(service_account_contents).
    type: path
  service_account_contents:
    description:
      - The service-account JSON key itself (a string or a dictionary), used when O(auth_kind=serviceaccount).
      - Falls back to E(GCP_SERVICE_ACCOUNT_CONTENTS).
    type: jsonarg
  access_token:
    description:
      - OAuth2 access token, used when O(auth_kind=accesstoken). Falls back to E(GCP_ACCESS_TOKEN).
    type: str
  external_account_file:
    description:
      - Path to an C(external_account) credential configuration (as written by
        C(gcloud iam workload-identity-pools create-cred-config) or the C(keyless.wif.external_account) role),
        used when O(auth_kind=external_account). Falls back to E(GCP_EXTERNAL_ACCOUNT_FILE).
      - When O(endpoints.sts) or O(endpoints.iamcredentials) is set, the file's C(token_url) and
        C(service_account_impersonation_url) are pointed at those endpoints.
    type: path
  scopes:
    description:
      - OAuth2 scopes requested for the credentials. Falls back to E(GCP_SCOPES) (comma separated).
      - Defaults to V(https://www.googleapis.com/auth/cloud-platform).
    type: list
    elements: str
  endpoints:
    description:
      - Base URLs overriding Google's public endpoints, per API, for private endpoints or the offline emulator.
      - Each unset key falls back to the environment variable E(GCP_ENDPOINT_<SERVICE>), for example
        E(GCP_ENDPOINT_IAM), then to Google's public endpoint.
    type: dict
    suboptions:
      iam:
        description: IAM API base URL, default V(https://iam.googleapis.com).
        type: str
      cloudresourcemanager:
        description: Cloud Resource Manager API base URL, default V(https://cloudresourcemanager.googleapis.com).
        type: str
      serviceusage:
        description: Service Usage API base URL, default V(https://serviceusage.googleapis.com).
        type: str
      sts:
        description: Security Token Service base URL, default V(https://sts.googleapis.com).
        type: str
      iamcredentials:
        description: IAM Service Account Credentials API base URL, default V(https://iamcredentials.googleapis.com).
        type: str
  request_timeout:
    description: Seconds to wait for one HTTP answer.
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried after HTTP 429, 5xx or an C(ABORTED) answer, with jittered
        exponential backoff (0.5 s doubling up to 16 s). IAM policy changes that meet a concurrent change
        (stale etag) are re-read and redone up to this many times.
      - Falls back to E(GCP_RETRIES).
    type: int
    default: 8
  retry_timeout:
    description:
      - Upper bound in seconds on the time spent backing off for one request or one policy change;
        the last error is reported when it is spent. Falls back to E(GCP_RETRY_TIMEOUT).
    type: float
    default: 120
  wait_timeout:
    description:
      - Seconds to wait for a long-running operation (pool and provider changes, enabling services).
      - When an operation is not done in time the task fails naming the operation; re-running it later
        is safe.
    type: float
    default: 300
  consistency_timeout:
    description:
      - Upper bound in seconds on waiting for Google to agree with itself, which it does only eventually.
      - Waited out, with waits of 1 s doubling to 10 s, are a new service account that still answers 404
        (after the collection created it, or when adding members to its policy), a C(setIamPolicy) answering
        400 C(Service account ... does not exist.) for a new account, a 403 C(SERVICE_DISABLED) for an API that
        Service Usage already lists as enabled, and Service Usage's C(Another activation or deactivation is in
        progress) and error 160009.
      - V(0) turns the waiting off; such an answer fails the task at once, and a service account the collection
        has just created is not polled for (the create's own answer is returned).
        Falls back to E(GCP_CONSISTENCY_TIMEOUT).
    type: float
    default: 120
  token_cache:
    description:
      - Share access tokens between the tasks of one user, so that a play makes one token exchange per identity
        instead of one per task (for O(auth_kind=external_account) an exchange is AWS signing, STS and C(generateAccessToken)).
      - A token is reused only while at least 5 minutes of its lifetime remain; a cached token Google answers with
        HTTP 401 is dropped and the request is sent once more with a fresh one.
      - Not used with O(auth_kind=accesstoken) (no exchange) nor for O(auth_kind=application) on a metadata server.
      - Falls back to E(GCP_TOKEN_CACHE).
    type: bool
    default: true
  token_cache_dir:
    description:
      - Directory of the token cache, created with mode 0700. It is refused (each task then exchanges its own token,
        with a warning) when it is a symlink, is not owned by the user running the module, or is open to group or
        others. Entries are files of mode 0600 named by a SHA-256 digest of the identity (auth kind, credential,
        scopes, endpoints), never by the token.
      - Defaults to C($XDG_RUNTIME_DIR/keyless.wif-tokens) when E(XDG_RUNTIME_DIR) is set, else
        C(~/.ansible/tmp/keyless.wif-tokens). Falls back to E(GCP_TOKEN_CACHE_DIR).
    type: path
  impersonate_service_account:
    description:
      - E-mail of a service account to act as, with short-lived access tokens from the IAM Service Account
        Credentials API (C(generateAccessToken)), like gcloud's C(--impersonate-service-account) and google-auth's
        C(target_principal). The credentials of O(auth_kind) (any kind) are only the source that asks for them.
      - The source needs C(iam.serviceAccounts.getAccessToken), that is V(roles/iam.serviceAccountTokenCreator), on
        this account (or, with O(impersonate_delegates), on the first delegate), and
        C(iamcredentials.googleapis.com) must be enabled. Tokens live one hour and are requested from
        O(endpoints.iamcredentials).
      - Tokens are cached by O(token_cache) under the impersonated account, the delegates and the source identity.
      - Falls back to E(GCP_IMPERSONATE_SERVICE_ACCOUNT).
    type: str
  impersonate_delegates:
    description:
      - Service-account e-mails of a delegation chain, in order, between the source credentials and
        O(impersonate_service_account) (google-auth's C(delegates)). The source needs
        V(roles/iam.serviceAccountTokenCreator) on the first one, each delegate on the next one, the last one on
        O(impersonate_service_account).
      - Needs O(impersonate_service_account). Falls back to E(GCP_IMPERSONATE_DELEGATES) (comma separated).
    type: list
    elements: str
requirements:
  - python >= 3.9
  - google-auth >= 2.20
  - requests
notes:
  - All GCP modules of this collection belong to the action group C(keyless.wif.gcp), so auth and
    endpoint options can be set once with C(module_defaults) and C(group/keyless.wif.gcp).
  - Inputs are validated before any credential is loaded or request sent; errors name the option and the rule.
  - A write whose answer is lost (HTTP 5xx, a reset or a timeout after it was sent) is retried. When the retry is
    refused because the first attempt had landed (a DELETE answering 404, a create answering C(ALREADY_EXISTS), an
    undelete answering C(FAILED_PRECONDITION), a C(setIamPolicy) meeting its own new etag), the task re-reads and
    reports the change. When the retries run out, the module re-reads the resource and, if the change is in place,
    succeeds with C(changed=true) and C(write_landed_despite) naming the error.
  - On the local connection with the controller's own Python (a play on C(localhost) or a task delegated to it, with
    C(ansible_python_interpreter) the controller's, as for the implicit localhost), and without become or async, the
    module runs inside the worker process Ansible forks for the task, through its action plugin. No module payload
    is built and no module process started. The arguments, validation, environment, check and diff mode and the
    result are the same as in a module process. Set the variable C(keyless_wif_gcp_in_process=false) to run it as
    a module process anyway; C(-vvv) prints which way each task ran.
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: On a local connection with the controller's Python, the whole module runs in the task's worker process.
  action_group:
    description: Use C(group/keyless.wif.gcp) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - keyless.wif.gcp
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
"""

    INFO_ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: This module only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: On a local connection with the controller's Python, the whole module runs in the task's worker process.
  action_group:
    description: Use C(group/keyless.wif.gcp) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - keyless.wif.gcp
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
"""

    WIF_RESOURCE = r"""
options:
  display_name:
    description: Display name, at most 32 characters. Use an empty string to clear it.
    type: str
  description:
    description: Description, at most 256 characters. Use an empty string to clear it.
    type: str
  disabled:
    description: Whether the pool or provider is disabled. A disabled pool or provider cannot exchange tokens.
    type: bool
"""

    BINDINGS = r"""
options:
  role:
    description:
      - Role to grant, V(roles/NAME), V(projects/P/roles/NAME) or V(organizations/O/roles/NAME).
      - Required unless O(bindings) is given; mutually exclusive with it.
    type: str
  members:
    description:
      - Members to add to (or remove from) the binding of O(role), each prefixed, for example
        V(user:alice@example.com), V(serviceAccount:sa@p.iam.gserviceaccount.com), V(group:), V(domain:),
        V(principal://iam.googleapis.com/...), V(principalSet://iam.googleapis.com/...).
      - Members not listed are never removed.
    type: list
    elements: str
    aliases: [member]
  condition:
    description:
      - IAM condition of the binding. A binding is identified by its role and its condition, so the same role with
        and without a condition are two bindings. The policy is written with version 3 when any binding has a condition.
    type: dict
    suboptions:
      title:
        description: Title of the condition, at most 100 characters.
        type: str
        required: true
      description:
        description: Description of the condition, at most 256 characters.
        type: str
      expression:
        description: CEL expression of the condition.
        type: str
        required: true
  bindings:
    description:
      - Several bindings changed in one read-modify-write of the policy, instead of O(role), O(members) and O(condition).
    type: list
    elements: dict
    suboptions:
      role:
        description: Role to grant.
        type: str
        required: true
      members:
        description: Members of that role to add or remove.
        type: list
        elements: str
        required: true
      condition:
        description: IAM condition, as O(condition).
        type: dict
        suboptions:
          title:
            description: Title of the condition.
            type: str
            required: true
          description:
            description: Description of the condition.
            type: str
          expression:
            description: CEL expression of the condition.
            type: str
            required: true
  state:
    description:
      - V(present) adds the members to the binding(s); V(absent) removes them (and drops bindings left empty).
    type: str
    choices: [present, absent]
    default: present
notes:
  - The policy is changed by read-modify-write with its etag. When another writer changed it in between
    (HTTP 409 C(ABORTED)), the whole read-modify-write is redone with backoff, bounded by O(retries) and
    O(retry_timeout), so parallel tasks on one policy never lose each other's members.
"""
