"""Liveness and readiness: /readyz names the dependency that does not answer, in a web process
and in a worker alike."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from server import create_app, create_worker_app
from tests.processes import free_port

every_process = pytest.mark.parametrize("create", [create_app, create_worker_app], ids=["web", "worker"])


@every_process
async def test_healthz_and_readyz_answer_200_when_all_is_up(aiohttp_client, make_settings, create):
    client = await aiohttp_client(create(make_settings()))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "checks": {"database": "ok", "state_store": "ok"}}


@every_process
async def test_readyz_names_the_state_store_when_redis_is_down(aiohttp_client, make_settings, create):
    client = await aiohttp_client(create(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["state_store"] != "ok"
    assert body["error"]["code"] == "not_ready" and body["error"]["failed"] == ["state_store"]
    assert "Redis" in body["error"]["message"]


@every_process
async def test_readyz_names_the_database_when_postgresql_is_down(aiohttp_client, make_settings, database_url, create):
    down = make_url(database_url).set(host="127.0.0.1", port=free_port())
    client = await aiohttp_client(create(make_settings(database_url=down.render_as_string(False))))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["error"]["failed"] == ["database"]
    assert body["checks"]["state_store"] == "ok"


@every_process
async def test_readyz_refuses_a_database_that_was_never_migrated(aiohttp_client, make_settings, tmp_path, create):
    client = await aiohttp_client(create(make_settings(database_url=f"sqlite:///{tmp_path}/empty.db")))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["error"]["failed"] == ["database"]
    assert "migrate" in body["checks"]["database"]


async def test_embedded_mode_migrates_and_is_ready_without_redis(aiohttp_client, make_settings, tmp_path):
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/data/app.db", redis_url=None, migrate_on_start=None)
    assert settings.embedded and settings.migrate_on_start
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()
    assert (tmp_path / "data" / "app.db").exists()
