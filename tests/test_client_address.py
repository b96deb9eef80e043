"""Per-address limits count the real caller: behind a trusted reverse proxy the address comes
from X-Forwarded-For; from anyone else the header is ignored, so it cannot be used to dodge them."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings
from server import create_app


async def _lookups(client, forwarded_for: str, numbers: range) -> list[int]:
    """Wrong query passwords for applications that do not exist, each number once (so only the
    per-address budget can stop them): the statuses."""
    return [(await client.get(f"/api/v1/applications/SX2026110500{n:04d}", params={"password": "000000"},
                              headers={"X-Forwarded-For": forwarded_for})).status for n in numbers]


async def test_behind_a_trusted_proxy_each_caller_has_its_own_budget(aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(trusted_proxies="127.0.0.1"), clock=clock))
    assert await _lookups(client, "198.51.100.7, 203.0.113.5", range(11)) == [404] * 10 + [429]
    # The proxy appends the caller it saw; what the caller wrote before that is theirs to forge.
    assert await _lookups(client, "198.51.100.8, 203.0.113.5", range(11, 12)) == [429]
    assert await _lookups(client, "203.0.113.6", range(12, 13)) == [404]


async def test_from_an_untrusted_peer_the_header_changes_nothing(aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(), clock=clock))
    statuses = [(await _lookups(client, f"203.0.113.{n}", range(n, n + 1)))[0] for n in range(11)]
    assert statuses == [404] * 10 + [429]


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.local", "127.0.0.1,,nonsense"])
def test_bad_trusted_proxies_are_refused_with_a_clear_message(value):
    with pytest.raises(SettingsError) as caught:
        load_settings(trusted_proxies=value)
    assert "TRUSTED_PROXIES 应为逗号分隔的 IP 地址或网段" in str(caught.value)
