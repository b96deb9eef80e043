"""One contract, two implementations: every test runs against Redis and the in-process store."""

from __future__ import annotations

import asyncio

import pytest

from core.state import MemoryStateStore, RedisStateStore, StateStore, StateStoreUnavailable
from tests.processes import free_port as closed_port


@pytest.fixture(params=["redis", "memory"])
async def store(request, redis_url):
    store: StateStore = RedisStateStore(redis_url) if request.param == "redis" else MemoryStateStore()
    yield store
    await store.close()


class TestStateStoreContract:
    async def test_get_set_delete(self, store):
        assert await store.get("k") is None
        await store.set("k", "值")
        assert await store.get("k") == "值"
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert await store.get("k") is None

    async def test_values_expire_after_their_ttl(self, store):
        await store.set("short", "x", ttl=0.15)
        await store.set("long", "y", ttl=30)
        assert await store.get("short") == "x"
        assert 29 < await store.ttl("long") <= 30
        await asyncio.sleep(0.3)
        assert await store.get("short") is None
        assert await store.ttl("short") is None
        assert await store.get("long") == "y"

    async def test_set_without_ttl_has_no_expiry(self, store):
        await store.set("forever", "1")
        assert await store.ttl("forever") is None

    async def test_set_if_absent_is_won_once(self, store):
        assert await store.set_if_absent("lock", "a", ttl=10) is True
        assert await store.set_if_absent("lock", "b", ttl=10) is False
        assert await store.get("lock") == "a"

    async def test_set_if_absent_under_contention_has_one_winner(self, store):
        results = await asyncio.gather(*(store.set_if_absent("dedupe", str(i), ttl=10) for i in range(50)))
        assert results.count(True) == 1

    async def test_set_if_absent_succeeds_again_after_expiry(self, store):
        assert await store.set_if_absent("mark", "1", ttl=0.1)
        await asyncio.sleep(0.25)
        assert await store.set_if_absent("mark", "2", ttl=0.1)

    async def test_increment_counts_in_a_fixed_window(self, store):
        assert [await store.increment("hits", ttl=0.2) for _ in range(3)] == [1, 2, 3]
        remaining = await store.ttl("hits")
        assert remaining is not None and remaining <= 0.2  # later increments do not extend the window
        await asyncio.sleep(0.35)
        assert await store.increment("hits", ttl=0.2) == 1

    async def test_concurrent_increments_are_not_lost(self, store):
        await asyncio.gather(*(store.increment("n", ttl=10) for _ in range(100)))
        assert await store.get("n") == "100"

    async def test_json_round_trip(self, store):
        await store.set_json("session", {"step": "ask_location", "answers": {"类型": "投诉"}}, ttl=60)
        assert await store.get_json("session") == {"step": "ask_location", "answers": {"类型": "投诉"}}

    async def test_ping(self, store):
        await store.ping()

    async def test_a_non_positive_ttl_is_a_programming_error(self, store):
        with pytest.raises(ValueError):
            await store.set("k", "v", ttl=0)


async def test_unreachable_redis_raises_a_clear_error():
    store = RedisStateStore(f"redis://127.0.0.1:{closed_port()}/0", timeout=0.5)
    with pytest.raises(StateStoreUnavailable) as caught:
        await store.get("k")
    assert caught.value.code == "state_store_unavailable"
    await store.close()


async def test_memory_store_sweeps_expired_keys():
    store = MemoryStateStore()
    for i in range(100):
        await store.set(f"k{i}", "v", ttl=0.05)
    await asyncio.sleep(0.1)
    await store.set("trigger", "v")
    assert len(store._data) == 1  # noqa: SLF001 - the bound on memory is the point of this test
