"""OpenAPI descriptions of the two authentication schemes (loaded by AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.accounts.permissions import permission_needed


class JWTScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.JWTAuthentication"
    name = "jwt"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": (
                "Also send X-API-Timestamp (unix ms, within 5 s of the server clock) and X-API-Signature: "
                "hex HMAC-SHA256 of timestamp + METHOD + path with query + raw body, keyed with the secret. "
                "Each signature is accepted once."
            ),
        }

    def get_security_requirement(self, auto_schema):
        # Operations that refuse API keys (key management, 2FA, logout, KYC submissions, the
        # withdrawal address book) do not offer the scheme. The schema generator's mock request
        # carries the operation's method, which is all the views' rules read.
        if permission_needed(auto_schema.view, auto_schema.view.request) is None:
            return None
        return super().get_security_requirement(auto_schema)
