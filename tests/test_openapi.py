"""The OpenAPI document is generated from the handlers and is valid OpenAPI 3."""

from __future__ import annotations

from openapi_spec_validator import validate


async def test_openapi_document_is_valid_and_describes_the_deadline_endpoint(client):
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    spec = await response.json()
    validate(spec)  # raises on any violation of the OpenAPI 3 schema
    assert spec["openapi"] == "3.1.0"
    operation = spec["paths"]["/api/v1/calendar/deadline"]["get"]
    names = {p["name"]: p for p in operation["parameters"]}
    assert set(names) == {"from", "working_days"}  # the wire name, not the Python name `from_`
    assert names["working_days"]["schema"]["minimum"] == 0
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DeadlineOut")
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "head" not in spec["paths"]["/api/v1/calendar/deadline"]
    assert set(spec["components"]["schemas"]["DeadlineOut"]["properties"]) == {
        "due_date", "deadline", "provisional", "calendar_version"}


async def test_docs_page_is_readable_html_without_external_assets(client):
    response = await client.get("/api/docs")
    text = await response.text()
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "/api/v1/calendar/deadline" in text and "working_days" in text
    assert "http://" not in text and "https://" not in text  # no CDN: works on a closed network
