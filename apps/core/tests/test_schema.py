"""The OpenAPI document is valid and the Swagger UI is served without any CDN."""

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from openapi_spec_validator import validate


def test_schema_endpoint_returns_a_valid_openapi_3_document():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate(document)
    assert "/api/v1/time" in document["paths"]
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    for path_item in document["paths"].values():
        for operation in path_item.values():
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["info"]["title"] == "Exchange API"


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    asset = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def _document() -> dict:
    return Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


@pytest.mark.django_db
def test_an_operation_lists_the_api_key_scheme_exactly_when_it_accepts_a_key():
    from apps.accounts import services, signing
    from tests.factories import UserFactory

    user = UserFactory()
    key = services.create_api_key(
        user=user, label="all", permissions=["read", "trade", "withdraw"], ip_allowlist=["127.0.0.1/32"]
    )
    checked = 0
    for template, path_item in _document()["paths"].items():
        for method, operation in path_item.items():
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            if "jwt" not in schemes:
                continue  # public: no credentials are read at all
            path = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", "1")
            body = b"{}" if method in ("post", "put", "patch") else b""
            headers = signing.signed_headers(key.api_key.key, key.secret, method, path, body)
            response = getattr(Client(REMOTE_ADDR="127.0.0.1"), method)(
                path, data=body, content_type="application/json",
                **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
            )  # fmt: skip
            refused = response.status_code == 403 and "cannot be used with an API key" in response.content.decode()
            assert refused == ("apiKey" not in schemes), (method, template, response.status_code, response.content)
            checked += 1
    assert checked > 25


def test_the_kyc_operations_are_described():
    paths = _document()["paths"]
    for path, method in (("/api/v1/kyc", "get"), ("/api/v1/kyc/submissions", "post")):
        operation = paths[path][method]
        assert operation.get("summary") and len(operation.get("description", "")) > 100, (method, path)
    assert "level 1" in paths["/api/v1/kyc/submissions"]["post"]["description"]
