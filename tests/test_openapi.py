"""GET /openapi.json describes exactly the app's routes, is valid OpenAPI 3.1, and /docs shows it."""

from __future__ import annotations

from openapi_spec_validator import validate

from .routes import app_routes


def test_the_description_lists_exactly_the_app_routes(app, client):
    spec = client.get("/openapi.json").get_json()
    described = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert described == app_routes(app)


def test_the_description_is_valid_openapi_3_1(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any schema error


def test_every_operation_has_an_id_a_summary_and_an_example_answer(client):
    spec = client.get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId") and operation.get("summary"), (method, path)
            success = [r for status, r in operation["responses"].items() if status.startswith("2")]
            assert success, (method, path)
            if path not in ("/openapi.json", "/docs"):  # these two are the description itself
                assert any("example" in media for r in success for media in r.get("content", {}).values()), (
                    method, path)


def test_routes_that_need_a_key_say_so_and_list_401_403_429(app, client):
    spec = client.get("/openapi.json").get_json()
    keyed = [(path, operation) for path, operations in spec["paths"].items() if path.startswith("/api/")
             for operation in operations.values()]
    assert len(keyed) == len({route for route in app_routes(app) if route[0].startswith("/api/")})
    for path, operation in keyed:
        assert operation["security"] == [{"apiKey": []}], path
        assert {"401", "403", "429", "503"} <= set(operation["responses"]), path
        assert operation["x-scope"] in {"ingest", "reader", "distribute", "admin"}, path


def test_the_docs_page_shows_every_operation(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    spec = client.get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert f'id="{operation["operationId"]}"' in page
            assert path in page


def test_the_docs_page_names_each_operations_scope_and_rate_limit_group(client):
    page = client.get("/docs").get_data(as_text=True)
    spec = client.get("/openapi.json").get_json()
    for operations in spec["paths"].values():
        for operation in operations.values():
            if "security" in operation:
                section = page[page.index(f'id="{operation["operationId"]}"'):][:800]
                assert f"<code>{operation['x-scope']}</code>" in section, operation["operationId"]
                assert f"<code>{operation['x-rate-limit-group']}</code>" in section, operation["operationId"]


def test_the_ingest_description_says_which_backend_promises_one_transaction(client):
    text = client.get("/openapi.json").get_json()["paths"]["/api/ingest"]["post"]["description"]
    assert "On direct PostgreSQL one transaction per request" in text
    assert "REST API one per chunk" in text and "Idempotency-Key" in text
