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

    async def test_events_are_counted_in_a_window_that_rolls_with_the_instants_given(self, store):
        # The instants are the service clock's (tests move it), not the store's own time.
        async def count_after(at: float, key: str = "fails") -> int:
            return (await store.add_event(key, at, window=600, limit=10))[1]

        assert [await count_after(at) for at in (1000.0, 1100.0, 1500.0)] == [1, 2, 3]
        assert await count_after(1600.0) == 3  # 1000 is exactly a window old: out
        assert await count_after(2100.5) == 2  # 1100 and 1500 out; 1600 and this one in
        assert await count_after(3000.0) == 1  # alone in its window
        assert await count_after(3000.0, key="other") == 1
        assert 599 < await store.ttl("fails") <= 600  # gone in real time once its newest event is a window old

    async def test_a_full_window_takes_no_event_until_one_is_removed_or_ages_out(self, store):
        noted = [await store.add_event("tries", 100.0 + i, window=600, limit=3) for i in range(4)]
        assert [n and n[1] for n in noted] == [1, 2, 3, None]
        await store.remove_event("tries", noted[1][0])  # that try went well
        assert (await store.add_event("tries", 111.0, window=600, limit=3))[1] == 3
        assert await store.add_event("tries", 112.0, window=600, limit=3) is None
        assert (await store.add_event("tries", 700.5, window=600, limit=3))[1] == 3  # 100 aged out
        await store.remove_event("tries", "no-such-event")  # nothing to forget: no error

    async def test_events_from_a_clock_running_ahead_count(self, store):
        await store.add_event("skew", 1000.0, window=600, limit=1)  # another host, a second ahead
        assert await store.add_event("skew", 999.0, window=600, limit=1) is None

    async def test_events_at_the_same_moment_cannot_pass_the_limit_together(self, store):
        noted = await asyncio.gather(*(store.add_event("n", 5000.0, window=60, limit=10) for _ in range(100)))
        assert sorted(n[1] for n in noted if n) == list(range(1, 11))

    async def test_an_event_log_expires_in_real_time(self, store):
        await store.add_event("brief", 10.0, window=0.15, limit=1)
        await asyncio.sleep(0.3)
        assert await store.ttl("brief") is None
        assert await store.add_event("brief", 10.0, window=0.15, limit=1) is not None

    async def test_json_round_trip(self, store):
        await store.set_json("session", {"step": "ask_location", "answers": {"类型": "投诉"}}, ttl=60)
        assert await store.get_json("session") == {"step": "ask_location", "answers": {"类型": "投诉"}}

    async def test_claim_stores_only_when_absent_and_reads_another_key_with_it(self, store):
        assert await store.claim("mark", "pending", 60, read="memory") == (True, None)
        await store.set("memory", "记住的")
        assert await store.claim("mark", "other", 60, read="memory") == (False, "记住的")
        assert await store.get("mark") == "pending"
        assert 0 < await store.ttl("mark") <= 60
        assert await store.claim("forever", "x", None, read="mark") == (True, "pending")
        assert await store.ttl("forever") is None

    async def test_claim_reading_its_own_key_sees_the_value_it_stored(self, store):
        assert await store.claim("self", "v", 60, read="self") == (True, "v")
        with pytest.raises(ValueError):  # a bad TTL, even on a key already there
            await store.claim("self", "w", 0, read="self")

    async def test_set_many_stores_each_with_its_own_ttl(self, store):
        await store.set("old", "x")
        await store.set_many([("a", "甲", 0.15), ("b", "乙", None), ("old", "新", 60)])
        assert (await store.get("a"), await store.get("b"), await store.get("old")) == ("甲", "乙", "新")
        assert await store.ttl("b") is None and 0 < await store.ttl("old") <= 60
        await asyncio.sleep(0.25)
        assert await store.get("a") is None and await store.get("b") == "乙"
        await store.set_many([])

    async def test_set_many_with_a_bad_ttl_stores_none_of_them(self, store):
        with pytest.raises(ValueError):
            await store.set_many([("first", "1", 60), ("second", "2", 0)])
        assert await store.get("first") is None

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


async def test_a_redis_that_stops_answering_is_given_up_on_within_the_timeout(redis_url):
    """A server that takes the command and never replies (hung, or a network black hole): the
    call ends as StateStoreUnavailable after the store's timeout, not never."""
    silent: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)
        while await reader.read(1024):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStateStore(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        began = asyncio.get_running_loop().time()
        with pytest.raises(StateStoreUnavailable):
            await store.get("k")
        assert asyncio.get_running_loop().time() - began < 1.5
    finally:
        await store.close()
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_call_cut_short_leaves_no_reply_behind_for_the_next(redis_url):
    """A command cancelled between sending and reading (the webhook's budget, a timeout) closes
    its connection: the next command on the store never reads the old command's reply."""
    store = RedisStateStore(redis_url)
    try:
        await store.set("cut:a", "A")
        await store.set("cut:b", "B")
        for _ in range(20):
            task = asyncio.create_task(store.get("cut:a"))
            await asyncio.sleep(0)  # sent, or about to be: cancel before the reply is read
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert await store.get("cut:b") == "B"
    finally:
        await store.delete("cut:a")
        await store.delete("cut:b")
        await store.close()


async def test_memory_store_sweeps_expired_keys():
    store = MemoryStateStore()
    for i in range(100):
        await store.set(f"k{i}", "v", ttl=0.05)
    await asyncio.sleep(0.1)
    await store.set("trigger", "v")
    assert len(store._data) == 1  # noqa: SLF001 - the bound on memory is the point of this test
