"""AWS authentication errors: :class:`AwsAuthError` and the messages AWS answers with."""

from __future__ import annotations

MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_MISSING_AUTH = "Request is missing Authentication Token"


class AwsAuthError(Exception):
    """An AWS authentication failure: ``code`` is AWS's error code, ``status`` the HTTP status.

    Codes: MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId, ExpiredToken,
    SignatureDoesNotMatch (all 403), and InvalidSubjectToken (400) for a Google subject token
    that is not a well-formed signed GetCallerIdentity request for the given audience.
    """

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
