"""Settings: validated once at startup, with one clear line for a bad value."""

from __future__ import annotations

import socket

import pytest

from core.settings import SettingsError, load_settings
from tests.processes import free_port, run_server


@pytest.mark.parametrize(("env", "name"), [
    ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
    ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"PORT": "eighty"}, "PORT"),
    ({"INTEGRATION_CLIENTS": "{not json"}, "INTEGRATION_CLIENTS"),
    ({"WECHAT_AES_KEY": "short"}, "WECHAT_AES_KEY"),
    ({"WECHAT_TOKEN": "t"}, "WECHAT_TOKEN"),  # WeChat takes 3 to 32 characters: this one could never match
    ({"WECHAT_TOKEN": "x" * 33}, "WECHAT_TOKEN"),
])
def test_a_bad_setting_stops_startup_with_one_clear_line(env, name, tmp_path):
    result = run_server(env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"配置错误 {name}:")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started or written


@pytest.mark.parametrize(("name", "value"), [
    ("database_url", "postgres ql://zsb:s3cr:et/p@ss@db.internal/zsb"),
    ("redis_url", "redis//:s3cr:et/p@ss@cache.internal:6379/0"),
])
def test_an_unreadable_address_is_quoted_without_its_password(name, value):
    with pytest.raises(SettingsError) as refused:
        load_settings(**{name: value})
    line = str(refused.value)
    assert "***@" in line and "internal" in line  # where it pointed stays readable
    assert "s3cr" not in line and "p@ss" not in line and "et/p" not in line


def test_embedded_defaults_and_production_switch():
    embedded = load_settings(database_url="sqlite:///./data/x.db", redis_url=None, demo_data=None, migrate_on_start=None)
    assert embedded.embedded and embedded.demo_data and embedded.migrate_on_start
    assert embedded.database_url.startswith("sqlite+aiosqlite://")
    production = load_settings(database_url="postgresql://app@db:5432/zw", redis_url="redis://cache:6379/0",
                               demo_data=None, migrate_on_start=None)
    assert not production.embedded and not production.demo_data and not production.migrate_on_start
    assert production.database_url == "postgresql+asyncpg://app@db:5432/zw"


def test_integration_clients_are_a_json_object_of_long_secrets():
    settings = load_settings(integration_clients='{"idp": "0123456789abcdef0123"}')
    assert settings.integration_clients == {"idp": "0123456789abcdef0123"}
    with pytest.raises(SettingsError) as caught:
        load_settings(integration_clients='{"idp": "short"}')
    assert caught.value.lines == ["配置错误 INTEGRATION_CLIENTS: INTEGRATION_CLIENTS 中每个密钥至少 16 个字符"]


@pytest.mark.parametrize(("name", "text", "shape"), [
    ("INTEGRATION_CLIENTS", '["idp"]', '接入方 → 共享密钥，例如 {"idp": "密钥"}'),
    ("INTEGRATION_SCOPES", '"licences"',
     '接入方 → 可推送的类型列表（identity-bindings、licences、application-events），例如 {"elic": ["licences"]}'),
    ("WECHAT_TEMPLATES", "{not json", '消息类型 → 订阅消息模板 ID，例如 {"licence_expiry": "模板ID"}'),
])
def test_a_json_setting_that_is_not_an_object_is_one_line_naming_it(name, text, shape):
    with pytest.raises(SettingsError) as caught:
        load_settings(**{name.lower(): text})
    assert caught.value.lines == [f"配置错误 {name}: {name} 应为 JSON 对象，{shape}"]


def test_a_blank_json_setting_is_unset_and_an_empty_object_is_not():
    blank = load_settings(integration_clients=" ", integration_scopes="", wechat_templates="")
    assert (blank.integration_clients, blank.integration_scopes, blank.wechat_templates) == ({}, None, {})
    assert load_settings(integration_scopes="{}").integration_scopes == {}  # set: no client may push anything


def test_migrate_command_builds_an_embedded_database(tmp_path):
    result = run_server("migrate", env={"DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "数据库已迁移到最新版本" in result.stdout
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(tmp_path / "m.db").execute("select name from sqlite_master")}
    assert {"alembic_version", "system_state"} <= tables


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path):
    result = run_server("migrate", env={"DATABASE_URL": f"postgresql://app:secret@127.0.0.1:{free_port()}/x"},
                        cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("无法迁移数据库 postgresql+asyncpg://app:***@127.0.0.1:")
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line_for_the_service_and_for_a_worker(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, env, hint in ((("worker", "--port", str(port)), {"HOST": "127.0.0.1"}, "--port"),
                                ((), {"HOST": "127.0.0.1", "PORT": str(port)}, "PORT")):
            result = run_server(*args, env=env, cwd=tmp_path)
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip().splitlines()[-1].startswith(f"无法在端口 {port} 上启动")
            assert f"可用 {hint} 换一个端口" in result.stderr and "Traceback" not in result.stderr
