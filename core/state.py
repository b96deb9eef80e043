"""Short-lived state (sessions, dedupe, rate limits, locks, tokens) behind one interface.

`RedisStateStore` serves any number of processes; `MemoryStateStore` serves one process when
no `REDIS_URL` is set. Both honour the same contract, checked by one shared test class.
Values are strings (callers store JSON); TTLs are seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import ServiceUnavailable


class StateStoreUnavailable(ServiceUnavailable):
    code = "state_store_unavailable"
    message = "会话服务暂时不可用，请稍后再试"


class StateStore(ABC):
    """get/set with TTL, set-if-absent with TTL (alone, or with a read of another key: `claim`),
    several sets at once, a rolling window of events, delete."""

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value`; it expires after `ttl` seconds (never when None)."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Store only when the key is absent; True when this call stored it (a lock, a dedupe mark)."""

    @abstractmethod
    async def claim(self, key: str, value: str, ttl: float | None, read: str) -> tuple[bool, str | None]:
        """set_if_absent(key, value, ttl) and get(read), in one step (one round trip to Redis):
        whether this call stored `key`, and `read`'s value."""

    @abstractmethod
    async def set_many(self, items: Sequence[tuple[str, str, float | None]]) -> None:
        """set(key, value, ttl) for each item, all in one step (one round trip to Redis)."""

    @abstractmethod
    async def add_event(self, key: str, at: float, window: float, limit: int) -> tuple[str, int] | None:
        """Note an event at `at` (seconds on the service clock, which tests move) unless `limit`
        of the key's events already lie within the window: the new event's id and how many
        there are now, or None (nothing noted) when the window is full. Events a window old are
        dropped; later ones count (another host's clock may run ahead). The key expires `window`
        seconds of real time after the last event."""

    @abstractmethod
    async def remove_event(self, key: str, event: str) -> None:
        """Forget an event that add_event noted."""


    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the key; True when it existed."""

    @abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds left, or None when absent or without expiry."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise StateStoreUnavailable when the store cannot be reached."""

    async def close(self) -> None:
        """Release connections."""

    async def get_json(self, key: str) -> object | None:
        raw = await self.get(key)
        return None if raw is None else orjson.loads(raw)

    async def set_json(self, key: str, value: object, ttl: float | None = None) -> None:
        await self.set(key, orjson.dumps(value).decode(), ttl)


def _ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    return max(1, int(ttl * 1000))


def _new_event(at: float, limit: int) -> str:
    """A unique id for an event at `at`: its instant and 48 random bits."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return f"{at!r}:{secrets.token_hex(6)}"


class RedisStateStore(StateStore):
    """Redis-backed store; an unreachable Redis surfaces as StateStoreUnavailable."""

    # A sorted set of events scored by their instant; trimmed, checked against the limit, added
    # to and given its expiry in one step, so that callers at the same moment cannot all pass.
    # ARGV: the instant, the window's inclusive lower end of what is dropped, a unique member,
    # the limit, TTL in ms. Returns the new count, or -1 when the window was full.
    _ADD_EVENT = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local n = redis.call('ZCARD', KEYS[1])
        if n >= tonumber(ARGV[4]) then return -1 end
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        return n + 1"""

    # ARGV: the value to claim with, its TTL in ms ("" for none). Returns {1 when claimed else 0, KEYS[2]'s value}.
    _CLAIM = """
        local claimed
        if ARGV[2] == '' then
            claimed = redis.call('SET', KEYS[1], ARGV[1], 'NX')
        else
            claimed = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
        end
        return {claimed and 1 or 0, redis.call('GET', KEYS[2])}"""
    # ARGV: value, TTL in ms ("" for none), for each key in turn.
    _SET_MANY = """
        for i, key in ipairs(KEYS) do
            if ARGV[2 * i] == '' then
                redis.call('SET', key, ARGV[2 * i - 1])
            else
                redis.call('SET', key, ARGV[2 * i - 1], 'PX', ARGV[2 * i])
            end
        end"""

    def __init__(self, url: str, *, timeout: float = 2.0):
        # Each call is bounded by `timeout` as a whole (`_call`), not by redis-py's socket_timeout,
        # which wraps every send in a task of its own and costs about a quarter of a round trip's
        # CPU. A call cancelled midway closes its connection (redis-py's own rule), so no reply is
        # ever read as another command's.
        self._timeout = timeout
        self._redis = aioredis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=timeout,
                                              decode_responses=True, health_check_interval=15)
        self._add_event = self._redis.register_script(self._ADD_EVENT)
        self._claim = self._redis.register_script(self._CLAIM)
        self._set_many = self._redis.register_script(self._SET_MANY)

    async def _call(self, coro):
        try:
            async with asyncio.timeout(self._timeout):
                return await coro
        except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
            raise StateStoreUnavailable() from exc

    async def get(self, key: str) -> str | None:
        return await self._call(self._redis.get(key))

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._call(self._redis.set(key, value, px=_ms(ttl)))

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        return bool(await self._call(self._redis.set(key, value, px=_ms(ttl), nx=True)))

    async def claim(self, key: str, value: str, ttl: float | None, read: str) -> tuple[bool, str | None]:
        claimed, stored = await self._call(self._claim(keys=[key, read], args=[value, _ms(ttl) or ""]))
        return claimed == 1, stored

    async def set_many(self, items: Sequence[tuple[str, str, float | None]]) -> None:
        if items:
            await self._call(self._set_many(keys=[key for key, _, _ in items],
                                            args=[arg for _, value, ttl in items for arg in (value, _ms(ttl) or "")]))

    async def add_event(self, key: str, at: float, window: float, limit: int) -> tuple[str, int] | None:
        event = _new_event(at, limit)
        count = int(await self._call(self._add_event(keys=[key], args=[repr(at), repr(at - window), event, limit,
                                                                        _ms(window)])))
        return None if count < 0 else (event, count)

    async def remove_event(self, key: str, event: str) -> None:
        await self._call(self._redis.zrem(key, event))

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._redis.delete(key)))

    async def ttl(self, key: str) -> float | None:
        ms = await self._call(self._redis.pttl(key))
        return ms / 1000 if ms >= 0 else None

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryStateStore(StateStore):
    """In-process store for the embedded mode: one process, nothing survives a restart.

    Expired keys are dropped when read and, so memory stays bounded, swept from a heap of
    expiry times on every write. Each method runs without awaiting, so it is atomic on the loop.
    """

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._expiries: list[tuple[float, str]] = []

    def _live(self, key: str) -> tuple[str, float | None] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None
        return entry

    def _put(self, key: str, value: str, ttl: float | None) -> None:
        expires = None if ttl is None else time.monotonic() + _ms(ttl) / 1000
        self._data[key] = (value, expires)
        if expires is not None:
            heapq.heappush(self._expiries, (expires, key))
        self._sweep()

    def _sweep(self) -> None:
        now = time.monotonic()
        while self._expiries and self._expiries[0][0] <= now:
            _, key = heapq.heappop(self._expiries)
            self._live(key)

    async def get(self, key: str) -> str | None:
        entry = self._live(key)
        return None if entry is None else entry[0]

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._put(key, value, ttl)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, value, ttl)
        return True

    async def claim(self, key: str, value: str, ttl: float | None, read: str) -> tuple[bool, str | None]:
        _ms(ttl)  # a bad TTL is refused whether or not the key is there, as in Redis
        claimed = self._live(key) is None
        if claimed:
            self._put(key, value, ttl)
        entry = self._live(read)
        return claimed, None if entry is None else entry[0]

    async def set_many(self, items: Sequence[tuple[str, str, float | None]]) -> None:
        for _, _, ttl in items:
            _ms(ttl)  # a bad TTL stores none of them, as in Redis
        for key, value, ttl in items:
            self._put(key, value, ttl)

    def _events(self, key: str, since: float) -> list[str]:
        """The key's events later than `since` (kept as one value: "instant:id instant:id …")."""
        entry = self._live(key)
        return [] if entry is None else [e for e in entry[0].split() if float(e.split(":", 1)[0]) > since]

    async def add_event(self, key: str, at: float, window: float, limit: int) -> tuple[str, int] | None:
        event, events = _new_event(at, limit), self._events(key, at - window)
        if len(events) >= limit:
            return None
        self._put(key, " ".join([*events, event]), window)
        return event, len(events) + 1

    async def remove_event(self, key: str, event: str) -> None:
        entry = self._live(key)
        if entry is not None:
            self._data[key] = (" ".join(e for e in entry[0].split() if e != event), entry[1])


    async def delete(self, key: str) -> bool:
        return self._live(key) is not None and self._data.pop(key, None) is not None

    async def ttl(self, key: str) -> float | None:
        entry = self._live(key)
        if entry is None or entry[1] is None:
            return None
        return max(0.0, entry[1] - time.monotonic())

    async def ping(self) -> None:
        return None


def create_state_store(redis_url: str | None) -> StateStore:
    """Redis when a URL is configured, else the in-process store."""
    return RedisStateStore(redis_url) if redis_url else MemoryStateStore()
