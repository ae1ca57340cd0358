"""Queue statistics straight from Redis (DB 12): priority lists, prefixes, worker reports."""

from __future__ import annotations

import json
import time

import redis

from atomfleet.metrics._redis import PREFETCH_STALE_AFTER, RedisQueueStats


def _message(published_at: float | None) -> str:
    headers = {"task": "atomfleet.atom.x", "id": "t"}
    if published_at is not None:
        headers["atomfleet_published_at"] = published_at
    return json.dumps({"body": "", "headers": headers, "properties": {}})


def test_all_priority_lists_and_fresh_reports_count_with_a_bounded_number_of_commands(broker_url):
    client = redis.Redis.from_url(broker_url)
    stats = RedisQueueStats(client)
    now = time.time()
    # kombu LPUSHes: index -1 is the oldest message of each list
    client.lpush("default", _message(now - 50), _message(now - 10))
    client.lpush("default\x06\x163", _message(now - 70))
    client.lpush("default\x06\x169", _message(None), _message(None))
    stats.report_prefetched("default@a", {"default": (3, now - 90)}, now)
    stats.report_prefetched("default@b", {"default": (5, now - 400)}, now - PREFETCH_STALE_AFTER - 1)  # dead

    commands = []
    original = client.pipeline

    def counting_pipeline(*args, **kwargs):  # type: ignore[no-untyped-def]
        pipe = original(*args, **kwargs)
        execute = pipe.execute

        def run(*a, **k):  # type: ignore[no-untyped-def]
            commands.append(len(pipe.command_stack))
            return execute(*a, **k)

        pipe.execute = run
        return pipe

    client.pipeline = counting_pipeline  # type: ignore[method-assign]
    result = stats.read(["default", "io_bound"], now=now)

    assert result["default"].length == 5
    assert result["default"].prefetched == 3  # the stale report of a dead worker is ignored
    assert result["default"].backlog == 8
    assert result["default"].oldest_age(now) == 90
    assert result["io_bound"].backlog == 0 and result["io_bound"].oldest_age(now) == 0
    assert commands == [2 * (2 * 4 + 1)]  # one round trip, 9 commands per queue


def test_global_keyprefix_and_custom_priority_steps_follow_kombu(broker_url):
    client = redis.Redis.from_url(broker_url)
    stats = RedisQueueStats.from_broker(broker_url, {"global_keyprefix": "af:", "priority_steps": [0, 5]})
    assert stats is not None
    assert stats.list_keys("q") == ["af:q", "af:q\x06\x165"]
    client.lpush("af:q\x06\x165", _message(time.time()))
    assert stats.read(["q"])["q"].length == 1
    assert RedisQueueStats.from_broker("amqp://guest@localhost//") is None  # not Redis: no gauges
