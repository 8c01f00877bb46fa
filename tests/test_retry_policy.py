"""One retry policy (delays, the close codes that back off, which connect
errors are transient) for picows_like.reconnect and the websockets layer's
``async for ws in connect(...)``: both read reconnect.DEFAULT_RETRY_POLICY."""
import asyncio
import itertools

import pytest

import picows_like
import picows_like.websockets as pws
from picows_like import reconnect
from picows_like.exceptions import (WSConnectionClosedBeforeHandshake, WSInvalidMessageError,
                                    WSInvalidStatusError)
from picows_like.handshake import WSUpgradeResponse
from picows_like.reconnect import DEFAULT_RETRY_POLICY, RetryPolicy
from picows_like.websockets.asyncio import client as ws_client
from picows_like.websockets.datastructures import Headers
from picows_like.websockets.exceptions import InvalidMessage, InvalidStatus
from picows_like.websockets.http11 import Response

from helpers import wf


def status_error(status):
    return WSInvalidStatusError(f"HTTP {status}", response=WSUpgradeResponse(status))


def layer_status_error(status):
    return InvalidStatus(Response(status, "", Headers()))


def test_delays_start_with_jitter_then_grow_to_the_cap():
    policy = RetryPolicy(initial_delay=1.0, min_delay=2.0, max_delay=10.0, factor=2.0,
                         jitter=0.0)
    values = list(itertools.islice(policy.delays(), 7))
    assert 0 <= values[0] < 1.0
    assert values[1:] == [2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    jittered = RetryPolicy(initial_delay=1.0, min_delay=2.0, max_delay=10.0, factor=2.0,
                           jitter=0.1)
    for _ in range(20):
        gen = jittered()                    # the policy is a reconnect_delays factory
        next(gen)
        assert 1.8 <= next(gen) <= 2.2 and 3.6 <= next(gen) <= 4.4
    for bad in (dict(factor=0.5), dict(jitter=1.0), dict(min_delay=-1)):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)
    # websockets' defaults, and backoff() is the policy's sequence.
    assert (DEFAULT_RETRY_POLICY.initial_delay, DEFAULT_RETRY_POLICY.min_delay,
            DEFAULT_RETRY_POLICY.max_delay, DEFAULT_RETRY_POLICY.factor) == (5.0, 3.1, 90.0, 1.618)
    assert DEFAULT_RETRY_POLICY.close_codes is reconnect.RECONNECT_CLOSE_CODES


def test_classification_is_by_type_and_status():
    policy = DEFAULT_RETRY_POLICY
    assert policy.is_retryable(ConnectionRefusedError())
    assert policy.is_retryable(asyncio.TimeoutError())
    assert policy.is_retryable(WSConnectionClosedBeforeHandshake("anything"))
    assert policy.is_retryable(status_error(503))
    assert not policy.is_retryable(status_error(404))
    assert not policy.is_retryable(
        WSInvalidMessageError("connection closed before the handshake completed"))
    assert not policy.is_retryable(ValueError("timed out"))
    assert policy.backs_off_after(1012) and policy.backs_off_after(None)
    assert not policy.backs_off_after(1000)


def test_both_apis_ask_the_same_policy(monkeypatch):
    """Replace the default policy: ws_connect_forever's classifier and the
    websockets layer's process_exception and backoff() follow it."""
    custom = RetryPolicy(initial_delay=0.0, min_delay=0.5, max_delay=0.5, jitter=0.0,
                         retry_statuses=[429], close_codes=[4000])
    monkeypatch.setattr(reconnect, "DEFAULT_RETRY_POLICY", custom)
    assert reconnect.retryable_exception(status_error(429))
    assert not reconnect.retryable_exception(status_error(503))
    assert ws_client.process_exception(layer_status_error(429)) is None
    err = layer_status_error(503)
    assert ws_client.process_exception(err) is err
    assert list(itertools.islice(ws_client.backoff(), 3)) == [0.0, 0.5, 0.5]
    # The layer's own exception shapes, as websockets classifies them.
    eof = InvalidMessage("did not receive a valid HTTP response")
    eof.__cause__ = EOFError()
    assert ws_client.process_exception(eof) is None
    assert ws_client.process_exception(OSError()) is None


async def test_ws_connect_forever_takes_its_defaults_from_the_policy(monkeypatch):
    custom = RetryPolicy(close_codes=[4000])
    monkeypatch.setattr(reconnect, "DEFAULT_RETRY_POLICY", custom)
    feed = reconnect.WSReconnectingClient(picows_like.WSListener, "ws://127.0.0.1:9/",
                                          reconnect_delays=lambda: itertools.repeat(60.0))
    try:
        assert feed.retry_policy is custom
        assert feed._reconnect_close_codes == frozenset({4000})
        assert feed._is_retryable == custom.is_retryable
    finally:
        await wf(feed.stop())
    explicit = RetryPolicy(close_codes=[4001])
    feed = reconnect.WSReconnectingClient(picows_like.WSListener, "ws://127.0.0.1:9/",
                                          retry_policy=explicit,
                                          reconnect_delays=lambda: itertools.repeat(60.0))
    try:
        assert feed.retry_policy is explicit
        assert feed._reconnect_close_codes == frozenset({4001})
    finally:
        await wf(feed.stop())


class CountingPolicy(RetryPolicy):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sequences = 0

    def delays(self):
        self.sequences += 1
        return itertools.repeat(0.01)

    __call__ = delays


async def _closing_server(codes):
    codes = iter(codes)

    async def handler(ws):
        await ws.close(next(codes, 1000))

    server = await pws.serve(handler, "127.0.0.1", 0)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def test_layer_connect_backs_off_after_the_policy_s_close_codes(monkeypatch):
    policy = CountingPolicy(close_codes=[4000])
    monkeypatch.setattr(reconnect, "DEFAULT_RETRY_POLICY", policy)
    server, url = await _closing_server([1012, 4000, 1000])
    try:
        codes = []
        async for ws in pws.connect(url, reconnect_delays=policy):
            await wf(ws.wait_closed())
            codes.append(ws.close_code)
            if len(codes) == 3:
                break
        assert codes == [1012, 4000, 1000]
        assert policy.sequences == 1        # after 4000 only: 1012 is not in this policy
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_ws_connect_forever_backs_off_after_the_policy_s_close_codes():
    policy = CountingPolicy(close_codes=[4000])
    server, url = await _closing_server([4000] * 100)
    try:
        feed = reconnect.ws_connect_forever(picows_like.WSListener, url, retry_policy=policy,
                                            stable_after=0.0)
        for _ in range(300):
            if feed.connect_count >= 3:
                break
            await asyncio.sleep(0.01)
        assert feed.connect_count >= 3 and policy.sequences >= 2
        await wf(feed.stop())
    finally:
        server.close()
        await wf(server.wait_closed())
