"""Liveness: auto-ping/pong, user-specific heartbeats, round-trip
time, handshake and close timeouts.

Every async test runs on asyncio and uvloop (conftest).  Timeouts are tens of
milliseconds; timing checks use time.monotonic() on both ends and allow
EARLY for a timer that fires slightly early (uvloop has millisecond timer
resolution) and LATE for scheduling jitter: an upper bound still catches a
timer that never fires, or one armed with the wrong (default, 10-20 s) value.

"picows_like side" = the implementation under test; "raw peer" = a hand-made
WebSocket peer (helpers.RawConn) that lets us see and control the wire.
"""

import asyncio
import contextlib
import json
import logging
import os
import sys
import time

import pytest

import picows_like as picows
from helpers import (T, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawConn, RawServer,
                     RecordingListener, build_frame, close_payload, connect, read_frame, wf,
                     ws_server)

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType
WSCloseCode = picows.WSCloseCode
Strategy = picows.WSAutoPingStrategy

STRATEGIES = [pytest.param(Strategy.PING_WHEN_IDLE, id="when_idle"),
              pytest.param(Strategy.PING_PERIODICALLY, id="periodically")]
SIDES = ["client", "server"]          # which side the picows_like end plays

IDLE = 0.05
REPLY = 0.05
EARLY = 0.015
LATE = 0.5

PING_JSON = b'{"op":"ping"}'
PONG_JSON = b'{"op":"pong"}'

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def auto_ping(strategy=Strategy.PING_WHEN_IDLE, idle=IDLE, reply=REPLY):
    return dict(enable_auto_ping=True, auto_ping_idle_timeout=idle,
                auto_ping_reply_timeout=reply, auto_ping_strategy=strategy)


# -----------------------------------------------------------------------------
# Listeners
# -----------------------------------------------------------------------------

class TimedListener(RecordingListener):
    """RecordingListener that also notes when it connected / disconnected
    (time.monotonic()) and counts the pings the auto-ping logic asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.connected_at = None
        self.disconnected_at = None
        self.pings_requested = 0

    def on_ws_connected(self, transport):
        self.connected_at = time.monotonic()
        super().on_ws_connected(transport)

    def on_ws_disconnected(self, transport):
        self.disconnected_at = time.monotonic()
        super().on_ws_disconnected(transport)

    def send_user_specific_ping(self, transport):
        self.pings_requested += 1
        transport.send_ping()

    def of_type(self, msg_type):
        return [f for f in self.frames if f.msg_type == msg_type]


class JsonHeartbeatListener(TimedListener):
    """Exchange-style heartbeat: {"op":"ping"} out, {"op":"pong"} back.

    mode "hook": is_user_specific_pong recognises the pong (consumed);
    mode "notify": is_user_specific_pong says False and on_ws_frame calls
    transport.notify_user_specific_pong_received().
    """

    def __init__(self, mode="hook", **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.pongs_seen_in_hook = 0
        self.pongs_notified = 0

    def send_user_specific_ping(self, transport):
        self.pings_requested += 1
        transport.send(WSMsgType.TEXT, PING_JSON)

    def is_user_specific_pong(self, frame):
        if self.mode != "hook":
            return False
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == PONG_JSON:
            self.pongs_seen_in_hook += 1
            return True
        return False

    def handle_frame(self, transport, frame, rec):
        if self.mode == "notify" and rec.msg_type == WSMsgType.TEXT:
            if json.loads(rec.payload).get("op") == "pong":
                self.pongs_notified += 1
                transport.notify_user_specific_pong_received()
        super().handle_frame(transport, frame, rec)

    def json_pongs_delivered(self):
        return [f for f in self.of_type(WSMsgType.TEXT) if f.payload == PONG_JSON]


class JsonHeartbeatServer(TimedListener):
    """picows_like peer that answers {"op":"ping"} with {"op":"pong"}."""

    def handle_frame(self, transport, frame, rec):
        if rec.msg_type == WSMsgType.TEXT and rec.payload == PING_JSON:
            transport.send(WSMsgType.TEXT, PONG_JSON)
            return
        super().handle_frame(transport, frame, rec)


# -----------------------------------------------------------------------------
# Raw peer
# -----------------------------------------------------------------------------

class RawPeer:
    """A raw WebSocket peer reading in the background.

    Records every frame with its arrival time; optionally answers PINGs
    with PONGs, JSON pings with JSON pongs and CLOSE with CLOSE.
    """

    def __init__(self, conn: RawConn, mask):
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.mask = mask                      # None (we are the server) or True
        self.frames = []                      # [(monotonic time, RawFrame)]
        self.queue = asyncio.Queue()
        self.answer_pings = False
        self.answer_json_pings = False
        self.answer_close = False
        self.pong_delay = 0.0                 # answer PINGs after this many seconds
        self.closed = loop.create_future()    # (time, CLOSE RawFrame)
        self.eof = loop.create_future()       # time of EOF / reset
        self._task = asyncio.ensure_future(self._run())

    def send(self, opcode, payload=b""):
        if self.conn.writer.is_closing():
            return
        self.conn.write(build_frame(opcode, payload, mask=self.mask))
        if opcode == OP_CLOSE and self.mask is None and self.closed.done():
            # A server closes TCP first once both CLOSEs are exchanged (RFC 6455 7.1.1).
            self.conn.shut_write()

    def of_type(self, opcode):
        return [f for _, f in self.frames if f.opcode == opcode]

    def times_of(self, opcode):
        return [t for t, f in self.frames if f.opcode == opcode]

    @property
    def pings(self):
        return self.of_type(OP_PING)

    @property
    def json_pings(self):
        return [f for f in self.of_type(OP_TEXT) if f.payload == PING_JSON]

    async def next_frame(self, timeout=T):
        return await wf(self.queue.get(), timeout)

    async def wait_close(self, timeout=T):
        return await wf(asyncio.shield(self.closed), timeout)

    async def wait_eof(self, timeout=T):
        return await wf(asyncio.shield(self.eof), timeout)

    async def _run(self):
        try:
            while True:
                frame = await read_frame(self.conn.reader, timeout=60)
                now = time.monotonic()
                self.frames.append((now, frame))
                self.queue.put_nowait(frame)
                if frame.opcode == OP_PING and self.answer_pings:
                    if self.pong_delay > 0:
                        asyncio.get_running_loop().call_later(
                            self.pong_delay, self.send, OP_PONG, frame.payload)
                    else:
                        self.send(OP_PONG, frame.payload)
                elif (frame.opcode == OP_TEXT and self.answer_json_pings
                      and frame.payload == PING_JSON):
                    self.send(OP_TEXT, PONG_JSON)
                elif frame.opcode == OP_CLOSE:
                    if not self.closed.done():
                        self.closed.set_result((now, frame))
                    if self.answer_close:
                        self.send(OP_CLOSE, frame.payload)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            if not self.eof.done():
                self.eof.set_result(time.monotonic())
            self.conn.close()           # EOF seen: close our side, like a real peer

    async def aclose(self):
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        self.conn.abort()


@contextlib.asynccontextmanager
async def picows_vs_raw(side, listener_factory=TimedListener, **ws_kwargs):
    """Yield (transport, listener, peer): a picows_like end playing `side`
    connected to a RawPeer.  ws_kwargs go to ws_connect / ws_create_server."""
    if side == "client":
        async with RawServer() as raw:
            conn, transport, listener = await raw.accept_ws_client(listener_factory, **ws_kwargs)
            peer = RawPeer(conn, mask=None)
            try:
                yield transport, listener, peer
            finally:
                await peer.aclose()
                transport.disconnect(False)
    else:
        async with ws_server(lambda request: listener_factory(), **ws_kwargs) as srv:
            conn = await RawConn.open(srv.port)
            await conn.client_handshake()
            listener = await srv.next_listener()
            peer = RawPeer(conn, mask=True)
            try:
                yield listener.transport, listener, peer
            finally:
                await peer.aclose()


async def until(predicate, timeout=T):
    """Poll `predicate` until it is true (bounded)."""
    async def _poll():
        while not predicate():
            await asyncio.sleep(0.005)
    await wf(_poll(), timeout)


def assert_dropped_as_stale(transport, caplog=None, peer_answers_close=False):
    assert transport.is_disconnected
    assert transport.is_close_frame_sent
    hs = transport.close_handshake
    assert hs is not None and hs.sent is not None
    assert hs.sent.code == WSCloseCode.GOING_AWAY
    if not peer_answers_close:
        assert hs.recv is None
    if caplog is not None:
        msgs = [r.getMessage().lower() for r in caplog.records if r.levelno >= logging.INFO]
        assert any("pong" in m for m in msgs), msgs


# -----------------------------------------------------------------------------
# Auto-ping: a peer that never answers is dropped within idle + reply
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("side", SIDES)
async def test_unresponsive_raw_peer_is_dropped_in_time(side, strategy, caplog):
    caplog.set_level(logging.INFO)
    async with picows_vs_raw(side, **auto_ping(strategy)) as (tr, lst, peer):
        await lst.wait_disconnected(IDLE + REPLY + LATE)
        elapsed = lst.disconnected_at - lst.connected_at
        assert IDLE + REPLY - EARLY <= elapsed <= IDLE + REPLY + LATE, elapsed

        # On the wire: exactly one PING after ~idle, then CLOSE 1001 after ~reply, then EOF.
        close_at, close = await peer.wait_close()
        await peer.wait_eof()
        assert close.close_code == WSCloseCode.GOING_AWAY
        assert len(peer.pings) == 1
        ping_at = peer.times_of(OP_PING)[0]
        assert ping_at - lst.connected_at >= IDLE - EARLY
        assert close_at - ping_at >= REPLY - EARLY
        assert peer.of_type(OP_TEXT) == []

        assert_dropped_as_stale(tr, caplog)
        await wf(tr.wait_disconnected())          # a stale peer is not a local failure
        assert lst.disconnected_count == 1
        assert lst.of_type(WSMsgType.PONG) == [] and lst.of_type(WSMsgType.PING) == []


@pytest.mark.parametrize("pinger", SIDES)
async def test_picows_peer_without_auto_pong_is_dropped(pinger):
    """The peer is a picows_like end with enable_auto_pong=False whose
    listener ignores PINGs: it sees them in on_ws_frame, then our CLOSE 1001."""
    pinger_kw = auto_ping()
    silent_kw = dict(enable_auto_pong=False)
    server_kw, client_kw = (pinger_kw, silent_kw) if pinger == "server" else (silent_kw, pinger_kw)
    async with ws_server(lambda request: TimedListener(), **server_kw) as srv:
        ctr, cl = await connect(srv.url(), TimedListener, **client_kw)
        sl = await srv.next_listener()
        (ptr, pl), (qtr, ql) = ((sl.transport, sl), (ctr, cl)) if pinger == "server" \
            else ((ctr, cl), (sl.transport, sl))
        await pl.wait_disconnected(IDLE + REPLY + LATE)
        await ql.wait_disconnected()
        elapsed = pl.disconnected_at - pl.connected_at
        assert IDLE + REPLY - EARLY <= elapsed <= IDLE + REPLY + LATE, elapsed
        # (the silent peer answers our CLOSE; whether that answer is read before
        # the abort is not specified)
        assert_dropped_as_stale(ptr, peer_answers_close=True)
        assert pl.pings_requested == 1
        # The silent peer got the PING delivered, then the CLOSE with 1001.
        assert len(ql.of_type(WSMsgType.PING)) == 1
        closes = ql.of_type(WSMsgType.CLOSE)
        assert len(closes) == 1 and closes[0].close_code == WSCloseCode.GOING_AWAY
        assert qtr.close_handshake.recv.code == WSCloseCode.GOING_AWAY


# -----------------------------------------------------------------------------
# Busy and healthy peers
# -----------------------------------------------------------------------------

BUSY_IDLE = 0.1


async def _stream_ticks(peer, duration, interval=0.01):
    end = time.monotonic() + duration
    n = 0
    while time.monotonic() < end:
        peer.send(OP_TEXT, b'{"op":"tick","n":%d}' % n)
        n += 1
        await asyncio.sleep(interval)
    return n


@pytest.mark.parametrize("side", SIDES)
async def test_busy_peer_is_never_pinged_when_idle_strategy(side):
    kw = auto_ping(Strategy.PING_WHEN_IDLE, idle=BUSY_IDLE, reply=BUSY_IDLE)
    async with picows_vs_raw(side, **kw) as (tr, lst, peer):
        peer.answer_pings = True
        sent = await _stream_ticks(peer, 5 * BUSY_IDLE)        # 5 idle periods of traffic
        await asyncio.sleep(0.02)
        assert peer.pings == [], "a busy peer was pinged under PING_WHEN_IDLE"
        assert lst.pings_requested == 0
        assert not tr.is_disconnected
        await until(lambda: len(lst.of_type(WSMsgType.TEXT)) >= sent)
        assert len(lst.of_type(WSMsgType.TEXT)) == sent
        # Once the peer goes quiet the timer is still alive: a PING follows within ~idle.
        quiet_at = time.monotonic()
        frame = await peer.next_frame(BUSY_IDLE + LATE)
        assert frame.opcode == OP_PING
        assert peer.times_of(OP_PING)[0] - quiet_at <= BUSY_IDLE + LATE
        await asyncio.sleep(2 * BUSY_IDLE)
        assert not tr.is_disconnected               # the PINGs are answered


@pytest.mark.parametrize("side", SIDES)
async def test_busy_peer_is_pinged_anyway_periodically(side):
    kw = auto_ping(Strategy.PING_PERIODICALLY, idle=BUSY_IDLE, reply=BUSY_IDLE)
    async with picows_vs_raw(side, **kw) as (tr, lst, peer):
        peer.answer_pings = True
        sent = await _stream_ticks(peer, 5 * BUSY_IDLE)
        await asyncio.sleep(0.02)
        assert len(peer.pings) >= 3, len(peer.pings)          # ~5 expected
        assert not tr.is_disconnected
        await until(lambda: len(lst.of_type(WSMsgType.TEXT)) >= sent)
        assert len(lst.of_type(WSMsgType.TEXT)) == sent
        assert lst.of_type(WSMsgType.PONG) == []              # PONGs are consumed


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("side", SIDES)
async def test_healthy_raw_peer_stays_connected(side, strategy):
    async with picows_vs_raw(side, **auto_ping(strategy)) as (tr, lst, peer):
        peer.answer_pings = True
        await asyncio.sleep(8 * IDLE)
        assert not tr.is_disconnected and lst.disconnected_count == 0
        assert len(peer.pings) >= 3, len(peer.pings)           # ~7 expected
        # (a PING just sent may not have been read by the peer yet)
        assert len(peer.pings) <= lst.pings_requested <= len(peer.pings) + 1
        assert lst.of_type(WSMsgType.PONG) == []
        assert not tr.is_close_frame_sent
        # Pings are spaced by at least the idle timeout.
        times = peer.times_of(OP_PING)
        assert all(b - a >= IDLE - EARLY for a, b in zip(times, times[1:])), times


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_two_picows_ends_pinging_each_other_stay_connected(strategy):
    async with ws_server(lambda request: TimedListener(), **auto_ping(strategy)) as srv:
        ctr, cl = await connect(srv.url(), TimedListener, **auto_ping(strategy))
        sl = await srv.next_listener()
        await asyncio.sleep(8 * IDLE)
        assert not ctr.is_disconnected and not sl.transport.is_disconnected
        assert cl.pings_requested + sl.pings_requested >= 3
        for lst in (cl, sl):
            assert lst.of_type(WSMsgType.PING) == [] and lst.of_type(WSMsgType.PONG) == []
        ctr.disconnect(False)


# -----------------------------------------------------------------------------
# User-specific (JSON) heartbeat
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["hook", "notify"])
@pytest.mark.parametrize("side", SIDES)
async def test_json_heartbeat_keeps_connection(side, mode):
    async with picows_vs_raw(side, lambda: JsonHeartbeatListener(mode),
                             **auto_ping()) as (tr, lst, peer):
        peer.answer_json_pings = True
        peer.send(OP_TEXT, b'{"op":"trade","px":1}')
        await asyncio.sleep(8 * IDLE)
        assert not tr.is_disconnected and lst.disconnected_count == 0
        assert len(peer.json_pings) >= 3, len(peer.json_pings)
        assert len(peer.json_pings) <= lst.pings_requested <= len(peer.json_pings) + 1
        assert peer.pings == [], "standard PINGs sent despite send_user_specific_ping"
        trades = [f for f in lst.of_type(WSMsgType.TEXT) if b"trade" in f.payload]
        assert len(trades) == 1                     # ordinary data still reaches on_ws_frame
        if mode == "hook":
            assert lst.json_pongs_delivered() == [], "user-specific pong reached on_ws_frame"
            assert lst.pongs_seen_in_hook >= 3
        else:
            assert len(lst.json_pongs_delivered()) == lst.pongs_notified >= 3


@pytest.mark.parametrize("mode", ["hook", "notify"])
@pytest.mark.parametrize("side", SIDES)
async def test_json_heartbeat_peer_that_stops_answering_is_dropped(side, mode):
    async with picows_vs_raw(side, lambda: JsonHeartbeatListener(mode),
                             **auto_ping()) as (tr, lst, peer):
        peer.answer_json_pings = True
        await asyncio.sleep(4 * IDLE)
        assert not tr.is_disconnected and len(peer.json_pings) >= 1
        answered = len(peer.json_pings)
        peer.answer_json_pings = False
        stopped_at = time.monotonic()
        await lst.wait_disconnected(IDLE + REPLY + LATE)
        assert lst.disconnected_at - stopped_at <= IDLE + REPLY + LATE
        _, close = await peer.wait_close()
        assert close.close_code == WSCloseCode.GOING_AWAY
        assert len(peer.json_pings) in (answered, answered + 1)
        assert peer.pings == []
        assert_dropped_as_stale(tr)


async def test_notify_without_expected_pong_is_harmless():
    async with ws_server() as srv:
        ctr, cl = await connect(srv.url(), TimedListener)
        ctr.notify_user_specific_pong_received()        # auto-ping off: a no-op
        async with picows_vs_raw("client", **auto_ping(idle=0.2, reply=0.2)) as (tr, lst, peer):
            tr.notify_user_specific_pong_received()     # nothing expected yet
            assert not tr.is_disconnected
        ctr.send(WSMsgType.TEXT, b"still fine")
        assert (await cl.next_message()) == (WSMsgType.TEXT, b"still fine")
        ctr.disconnect(False)


# -----------------------------------------------------------------------------
# measure_roundtrip_time
# -----------------------------------------------------------------------------

def _check_rtts(rtts, rounds):
    assert isinstance(rtts, list) and len(rtts) == rounds
    assert all(isinstance(x, float) and 0 < x < 1.0 for x in rtts), rtts


@pytest.mark.parametrize("side", SIDES)
async def test_measure_roundtrip_time_with_ping_frames(side):
    async with picows_vs_raw(side) as (tr, lst, peer):
        peer.answer_pings = True
        rtts = await wf(tr.measure_roundtrip_time(5))
        _check_rtts(rtts, 5)
        assert len(peer.pings) == 5
        assert lst.of_type(WSMsgType.PONG) == []                # consumed
        assert not tr.is_disconnected


async def test_measure_roundtrip_time_picows_to_picows_both_directions():
    async with ws_server(lambda request: TimedListener()) as srv:
        ctr, cl = await connect(srv.url(), TimedListener)
        sl = await srv.next_listener()
        _check_rtts(await wf(ctr.measure_roundtrip_time(5)), 5)
        _check_rtts(await wf(sl.transport.measure_roundtrip_time(3)), 3)
        assert cl.of_type(WSMsgType.PONG) == [] and sl.of_type(WSMsgType.PONG) == []
        assert cl.pings_requested == 5 and sl.pings_requested == 3
        ctr.disconnect(False)


@pytest.mark.parametrize("mode", ["hook", "notify"])
async def test_measure_roundtrip_time_with_json_hooks(mode):
    async with ws_server(lambda request: JsonHeartbeatServer()) as srv:
        ctr, cl = await connect(srv.url(), lambda: JsonHeartbeatListener(mode))
        sl = await srv.next_listener()
        _check_rtts(await wf(ctr.measure_roundtrip_time(5)), 5)
        assert cl.pings_requested == 5
        assert sl.of_type(WSMsgType.PING) == []                 # JSON pings only
        if mode == "hook":
            assert cl.json_pongs_delivered() == []
        else:
            assert cl.pongs_notified == 5
        ctr.disconnect(False)


async def test_measure_roundtrip_time_while_auto_ping_runs():
    kw = auto_ping(Strategy.PING_PERIODICALLY, idle=0.03, reply=0.03)
    async with ws_server(lambda request: JsonHeartbeatServer()) as srv:
        ctr, cl = await connect(srv.url(), lambda: JsonHeartbeatListener("hook"), **kw)
        await asyncio.sleep(0.05)
        for _ in range(3):
            _check_rtts(await wf(ctr.measure_roundtrip_time(5)), 5)
            await asyncio.sleep(0.01)
        before = cl.pings_requested
        await asyncio.sleep(0.2)                    # auto-ping resumes afterwards
        assert cl.pings_requested >= before + 2
        assert not ctr.is_disconnected
        assert cl.json_pongs_delivered() == []
        ctr.disconnect(False)


async def test_measure_roundtrip_time_while_auto_ping_awaits_its_pong():
    """measure_roundtrip_time() started while an auto-ping PING is still
    unanswered must not take that PING's PONG as the answer to its own
    first PING (that would report a too-short RTT and leave a late PONG to
    leak into on_ws_frame)."""
    delay = 0.04
    kw = auto_ping(Strategy.PING_WHEN_IDLE, idle=0.1, reply=0.1)
    async with picows_vs_raw("client", **kw) as (tr, lst, peer):
        peer.answer_pings = True
        peer.pong_delay = delay
        first = await peer.next_frame()
        assert first.opcode == OP_PING              # the auto-ping, answered in `delay`
        await asyncio.sleep(delay / 2)
        rtts = await wf(tr.measure_roundtrip_time(2))
        _check_rtts(rtts, 2)
        # The peer answers every PING after `delay` (a call_later: never early
        # by more than ~1 ms), so no true round trip is shorter than that.
        assert all(x >= delay - 0.003 for x in rtts), rtts
        await asyncio.sleep(2 * delay)
        assert lst.of_type(WSMsgType.PONG) == []
        assert not tr.is_disconnected


async def test_measure_roundtrip_time_fails_when_peer_disconnects():
    async with picows_vs_raw("client") as (tr, lst, peer):
        task = asyncio.ensure_future(tr.measure_roundtrip_time(3))
        await peer.next_frame()                     # the PING, never answered
        peer.conn.abort()
        with pytest.raises(ConnectionError):
            await wf(task)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("rounds", [0, -1])
async def test_measure_roundtrip_time_rejects_non_positive_rounds(rounds):
    async with ws_server() as srv:
        ctr, cl = await connect(srv.url())
        with pytest.raises(ValueError):
            await wf(ctr.measure_roundtrip_time(rounds))
        ctr.disconnect(False)


# -----------------------------------------------------------------------------
# enable_auto_pong
# -----------------------------------------------------------------------------

PING_PAYLOADS = [pytest.param(b"", id="empty"), pytest.param(b"hello-123", id="short"),
                 pytest.param(bytes(range(125)), id="125")]


@pytest.mark.parametrize("payload", PING_PAYLOADS)
@pytest.mark.parametrize("side", SIDES)
async def test_auto_pong_on(side, payload):
    async with picows_vs_raw(side) as (tr, lst, peer):
        peer.send(OP_PING, payload)
        frame = await peer.next_frame()
        assert frame.opcode == OP_PONG and frame.fin
        assert frame.payload == payload
        assert frame.masked == (side == "client")
        peer.send(OP_TEXT, b"after")
        rec = await lst.next_frame()
        assert (rec.msg_type, rec.payload) == (WSMsgType.TEXT, b"after")
        assert lst.of_type(WSMsgType.PING) == []


@pytest.mark.parametrize("payload", PING_PAYLOADS)
@pytest.mark.parametrize("side", SIDES)
async def test_auto_pong_off(side, payload):
    async with picows_vs_raw(side, enable_auto_pong=False) as (tr, lst, peer):
        peer.send(OP_PING, payload)
        rec = await lst.next_frame()
        assert rec.msg_type == WSMsgType.PING and rec.payload == payload
        tr.send(WSMsgType.TEXT, b"after")       # would follow a PONG if one had been sent
        frame = await peer.next_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"after")
        await asyncio.sleep(0.02)
        assert peer.of_type(OP_PONG) == []


# -----------------------------------------------------------------------------
# Invalid options: ValueError up front
# -----------------------------------------------------------------------------

INVALID = [
    pytest.param(dict(enable_auto_ping=True, auto_ping_reply_timeout=0), id="reply=0"),
    pytest.param(dict(enable_auto_ping=True, auto_ping_reply_timeout=-1), id="reply<0"),
    pytest.param(dict(enable_auto_ping=True, auto_ping_idle_timeout=0), id="idle=0"),
    pytest.param(dict(enable_auto_ping=True, auto_ping_idle_timeout=-0.5), id="idle<0"),
    pytest.param(dict(websocket_handshake_timeout=0), id="handshake=0"),
    pytest.param(dict(websocket_handshake_timeout=-1), id="handshake<0"),
    pytest.param(dict(enable_auto_ping=True, auto_ping_strategy="sometimes"), id="strategy=str"),
]


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("kwargs", INVALID)
async def test_invalid_options_ws_connect(kwargs):
    # Port 1 is closed: reaching the network would raise ConnectionError instead.
    with pytest.raises(ValueError):
        await wf(picows.ws_connect(RecordingListener, "ws://127.0.0.1:1/", **kwargs))


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("kwargs", INVALID)
async def test_invalid_options_ws_create_server(kwargs):
    server = None
    try:
        with pytest.raises(ValueError):
            server = await wf(picows.ws_create_server(lambda r: RecordingListener(),
                                                      "127.0.0.1", 0, **kwargs))
    finally:
        if server is not None:
            server.close()


@pytest.mark.stricter_than_picows
async def test_unknown_auto_ping_strategy_number_is_rejected():
    """Cython cpdef enums accept any int (WSAutoPingStrategy(99) returns a
    pseudo-member), so the enum conversion alone does not validate; an
    unknown strategy must not silently behave as PING_WHEN_IDLE."""
    with pytest.raises(ValueError):
        await wf(picows.ws_connect(RecordingListener, "ws://127.0.0.1:1/",
                                   enable_auto_ping=True, auto_ping_strategy=99))
    server = None
    try:
        with pytest.raises(ValueError):
            server = await wf(picows.ws_create_server(lambda r: RecordingListener(),
                                                      "127.0.0.1", 0, enable_auto_ping=True,
                                                      auto_ping_strategy=99))
    finally:
        if server is not None:
            server.close()


async def test_reply_timeout_is_not_checked_without_auto_ping():
    async with ws_server(auto_ping_reply_timeout=0, auto_ping_idle_timeout=0) as srv:
        ctr, cl = await connect(srv.url(), auto_ping_reply_timeout=0, auto_ping_idle_timeout=0)
        ctr.send(WSMsgType.TEXT, b"x")
        assert (await cl.next_message()) == (WSMsgType.TEXT, b"x")
        ctr.disconnect(False)


# -----------------------------------------------------------------------------
# Close timeout
# -----------------------------------------------------------------------------

CLOSE_TIMEOUT = 0.05


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("side", SIDES)
async def test_close_timeout_drops_silent_peer(side):
    async with picows_vs_raw(side, close_timeout=CLOSE_TIMEOUT) as (tr, lst, peer):
        sent_at = time.monotonic()
        tr.send_close(WSCloseCode.OK, b"bye")
        await lst.wait_disconnected(CLOSE_TIMEOUT + LATE)
        elapsed = lst.disconnected_at - sent_at
        assert CLOSE_TIMEOUT - EARLY <= elapsed <= CLOSE_TIMEOUT + LATE, elapsed
        _, close = await peer.wait_close()
        assert close.close_code == WSCloseCode.OK and close.close_reason == b"bye"
        await peer.wait_eof()
        assert tr.is_disconnected and tr.close_handshake.recv is None
        assert tr.close_handshake.sent.code == WSCloseCode.OK


@pytest.mark.parametrize("side", SIDES)
async def test_close_answered_disconnects_promptly(side):
    # Default close timeout (5 s): an answering peer must not have to wait for it.
    async with picows_vs_raw(side) as (tr, lst, peer):
        peer.answer_close = True
        sent_at = time.monotonic()
        tr.send_close(WSCloseCode.GOING_AWAY)
        await lst.wait_disconnected(LATE)
        assert lst.disconnected_at - sent_at <= LATE
        assert tr.close_handshake.recv.code == WSCloseCode.GOING_AWAY
        assert tr.close_handshake.sent.code == WSCloseCode.GOING_AWAY
        await peer.wait_eof()


@pytest.mark.stricter_than_picows
async def test_close_timeout_none_waits_for_peer():
    async with picows_vs_raw("client", close_timeout=None) as (tr, lst, peer):
        tr.send_close(WSCloseCode.OK)
        await peer.wait_close()
        await asyncio.sleep(0.2)
        assert not tr.is_disconnected
        peer.send(OP_CLOSE, close_payload(1000))
        await lst.wait_disconnected(LATE)


# -----------------------------------------------------------------------------
# websocket_handshake_timeout
# -----------------------------------------------------------------------------

HANDSHAKE_TIMEOUT = 0.1


async def test_client_handshake_timeout():
    async with RawServer() as raw:
        started = time.monotonic()
        task = asyncio.ensure_future(picows.ws_connect(
            RecordingListener, raw.url(), websocket_handshake_timeout=HANDSHAKE_TIMEOUT))
        conn = await raw.accept()
        await conn.read_request()                   # ...and never answer
        with pytest.raises(asyncio.TimeoutError):
            await wf(task, HANDSHAKE_TIMEOUT + LATE)
        elapsed = time.monotonic() - started
        assert HANDSHAKE_TIMEOUT - EARLY <= elapsed <= HANDSHAKE_TIMEOUT + LATE, elapsed
        await conn.expect_eof()                     # the client dropped the connection


@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"],
                         ids=["silent", "partial"])
async def test_server_handshake_timeout(partial):
    calls = []

    def factory(request):
        calls.append(request)
        return RecordingListener()

    async with ws_server(factory, websocket_handshake_timeout=HANDSHAKE_TIMEOUT) as srv:
        conn = await RawConn.open(srv.port)
        started = time.monotonic()
        if partial:
            await conn.send(partial)
        await conn.read_to_eof(HANDSHAKE_TIMEOUT + LATE)
        elapsed = time.monotonic() - started
        assert HANDSHAKE_TIMEOUT - EARLY <= elapsed <= HANDSHAKE_TIMEOUT + LATE, elapsed
        assert calls == []
        conn.abort()


async def test_handshake_timeout_does_not_hit_established_connection():
    async with ws_server(websocket_handshake_timeout=HANDSHAKE_TIMEOUT) as srv:
        ctr, cl = await connect(srv.url(), websocket_handshake_timeout=HANDSHAKE_TIMEOUT)
        await asyncio.sleep(2 * HANDSHAKE_TIMEOUT)
        assert not ctr.is_disconnected
        ctr.send(WSMsgType.TEXT, b"alive")
        assert (await cl.next_message()) == (WSMsgType.TEXT, b"alive")
        ctr.disconnect(False)


# -----------------------------------------------------------------------------
# The example
# -----------------------------------------------------------------------------

@pytest.mark.skipif(os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1",
                    reason="the example imports picows_like itself")
async def test_json_heartbeat_example_runs(event_loop_policy):
    """Run examples/json_heartbeat_client.py (local server mode) on the same
    loop flavour as this test; it must finish by itself, quickly, and report
    a healthy heartbeat followed by the stale-feed detection."""
    args = [sys.executable, os.path.join(REPO_ROOT, "examples", "json_heartbeat_client.py")]
    if "uvloop" in type(event_loop_policy).__module__:
        args.append("--uvloop")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env)
    try:
        out, _ = await wf(proc.communicate(), 8.0)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode()
    assert proc.returncode == 0, text
    assert time.monotonic() - started < 8.0
    assert "heartbeat ok" in text, text
    assert "round-trip" in text, text
    assert "stale" in text and "1001" in text, text
