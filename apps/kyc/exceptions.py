from apps.core.exceptions import Conflict, DomainError


class SubmissionRejected(DomainError):
    code = "invalid_request"
    status_code = 400
    default_message = "The request is invalid; see details."


class OpenSubmissionExists(Conflict):
    code = "kyc_submission_open"
    default_message = "A submission is already waiting for review."


class IllegalTransition(Conflict):
    code = "illegal_transition"
    default_message = "The submission is not in a state that allows this."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    default_message = "Another reviewer has claimed this submission."


class AlreadyVerified(Conflict):
    code = "kyc_already_verified"
    default_message = "Your identity is already verified."
