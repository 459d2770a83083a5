from apps.core.exceptions import Conflict, DomainError


class InvalidFaucetRequest(DomainError):
    """A field the serializer cannot judge alone (it depends on the currency): same code and
    `details` shape as any validation error."""

    code = "invalid_request"
    status_code = 400
    default_message = "The request is invalid; see details."

    def __init__(self, field: str, message: str):
        super().__init__(details={field: [message]})


class RequestIdReused(Conflict):
    code = "idempotency_conflict"
    default_message = "This X-Request-ID was already used for another faucet request."


class SandboxModeOff(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Sandbox mode is off."
