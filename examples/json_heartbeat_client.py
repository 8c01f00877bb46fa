"""Feed client with an exchange-style JSON heartbeat (picows_like liveness demo).

Many exchanges do not rely on WebSocket PING/PONG frames: they expect an
application message such as {"op":"ping"} and answer {"op":"pong"}, and a
feed can die silently (a NAT drops the flow, the exchange stalls).  This
example plugs such a heartbeat into picows_like's auto-ping machinery:

* ``FeedClient.send_user_specific_ping()`` sends ``{"op":"ping"}`` whenever
  the auto-ping timer fires (``enable_auto_ping=True``; with the default
  ``PING_WHEN_IDLE`` strategy only after ``IDLE`` seconds without incoming
  data, so a busy feed costs no heartbeats at all);
* ``FeedClient.is_user_specific_pong()`` recognises ``{"op":"pong"}`` with a
  cheap byte comparison; the library then consumes the frame, it never
  reaches ``on_ws_frame``;
* if no pong arrives within ``REPLY`` seconds, the library sends CLOSE 1001
  (going away) and disconnects: a stalled feed is noticed within
  ``IDLE + REPLY`` seconds, and ``transport.close_handshake`` tells why;
* ``transport.measure_roundtrip_time()`` reuses the same two hooks.

Without a URL the script starts a local picows_like "exchange" and walks
through three phases, then exits by itself (about 1 s in total):

1. the exchange streams trades: no heartbeat is needed;
2. the feed goes quiet but the exchange answers heartbeats: the connection
   stays up; the round-trip time is measured with the JSON ping;
3. the exchange stalls (stops answering): the client declares the feed stale.

Usage::

    python examples/json_heartbeat_client.py               # local demo
    python examples/json_heartbeat_client.py --uvloop      # same, on uvloop
    python examples/json_heartbeat_client.py ws://host:port/feed --seconds 10

With a URL the client connects there (the server must speak the same
``{"op":"ping"}``/``{"op":"pong"}`` heartbeat), subscribes, prints what it
gets for ``--seconds`` and closes.  Exit status 0 on success.
"""
import argparse
import asyncio
import sys
import time
from typing import Optional, Tuple

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

IDLE = 0.1          # auto_ping_idle_timeout: heartbeat after this long without data
REPLY = 0.1         # auto_ping_reply_timeout: how long to wait for the pong

PING = b'{"op":"ping"}'
PONG = b'{"op":"pong"}'
SUBSCRIBE = b'{"op":"subscribe","channel":"trades","symbol":"BTC-USD"}'


def log(t0: float, msg: str) -> None:
    print(f"[{time.monotonic() - t0:6.3f}s] {msg}", flush=True)


# -----------------------------------------------------------------------------
# The client
# -----------------------------------------------------------------------------

class FeedClient(WSListener):
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.trades = 0
        self.heartbeats_sent = 0
        self.pongs = 0

    # -- liveness hooks ------------------------------------------------------
    def send_user_specific_ping(self, transport: WSTransport) -> None:
        self.heartbeats_sent += 1
        transport.send(WSMsgType.TEXT, PING)

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        # Called only while a pong is expected, before on_ws_frame.
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == PONG:
            self.pongs += 1
            return True
        return False

    # -- ordinary callbacks ----------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        log(self.t0, "client: connected, subscribing to trades")
        transport.send(WSMsgType.TEXT, SUBSCRIBE)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            log(self.t0, f"client: server closed with {frame.get_close_code()!r}")
            return
        if frame.msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if b'"trade"' in payload:
                self.trades += 1
                if self.trades <= 2:
                    log(self.t0, f"client: {payload.decode()}")
            elif payload == PONG:
                # Only reached when no pong was expected (cannot happen here).
                log(self.t0, "client: unexpected pong")
            else:
                log(self.t0, f"client: {payload.decode()}")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        log(self.t0, "client: disconnected")


# -----------------------------------------------------------------------------
# A local "exchange" for the demo
# -----------------------------------------------------------------------------

class Exchange:
    """Shared state of the local exchange (lets the demo make it stall)."""

    def __init__(self) -> None:
        self.stalled = False
        self.heartbeats_answered = 0


class ExchangeSession(WSListener):
    """Streams trades for TRADE_SECONDS after a subscribe, then stays quiet;
    answers {"op":"ping"} with {"op":"pong"} unless the exchange stalls."""

    TRADE_SECONDS = 0.3
    TRADE_INTERVAL = 0.02

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.timer: Optional[asyncio.TimerHandle] = None
        self.seq = 0
        self.stop_at = 0.0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            return
        payload = frame.get_payload_as_bytes()
        if payload == PING:
            if not self.exchange.stalled:
                self.exchange.heartbeats_answered += 1
                transport.send(WSMsgType.TEXT, PONG)
        elif payload == SUBSCRIBE:
            transport.send(WSMsgType.TEXT, b'{"op":"subscribed","channel":"trades"}')
            self.stop_at = time.monotonic() + self.TRADE_SECONDS
            self._trade(transport)

    def _trade(self, transport: WSTransport) -> None:
        self.timer = None
        if self.exchange.stalled or transport.is_disconnected or time.monotonic() > self.stop_at:
            return
        self.seq += 1
        transport.send(WSMsgType.TEXT, b'{"type":"trade","seq":%d,"px":%d.5,"qty":0.01}'
                       % (self.seq, 60000 + self.seq % 7))
        self.timer = asyncio.get_running_loop().call_later(self.TRADE_INTERVAL, self._trade,
                                                          transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.timer is not None:
            self.timer.cancel()


# -----------------------------------------------------------------------------
# Scenarios
# -----------------------------------------------------------------------------

async def connect(url: str, t0: float) -> Tuple[WSTransport, FeedClient]:
    transport, client = await picows.ws_connect(
        lambda: FeedClient(t0), url,
        enable_auto_ping=True, auto_ping_idle_timeout=IDLE, auto_ping_reply_timeout=REPLY,
        auto_ping_strategy=picows.WSAutoPingStrategy.PING_WHEN_IDLE,
        websocket_handshake_timeout=2)
    return transport, client


async def local_demo() -> int:
    t0 = time.monotonic()
    exchange = Exchange()
    server = await picows.ws_create_server(lambda request: ExchangeSession(exchange),
                                           "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    log(t0, f"exchange: listening on ws://127.0.0.1:{port}/feed "
            f"(client heartbeat: idle {IDLE}s, reply {REPLY}s)")
    try:
        transport, client = await connect(f"ws://127.0.0.1:{port}/feed", t0)

        # Phase 1: trades flowing, the idle timer never fires.
        await asyncio.sleep(ExchangeSession.TRADE_SECONDS)
        log(t0, f"phase 1 (busy feed): {client.trades} trades, "
                f"{client.heartbeats_sent} heartbeats sent")

        # Phase 2: no data, heartbeats keep the connection alive.
        before = client.heartbeats_sent
        await asyncio.sleep(4 * IDLE)
        sent = client.heartbeats_sent - before
        ok = sent >= 2 and client.pongs >= sent - 1 and not transport.is_disconnected
        log(t0, f"phase 2 (quiet feed): {sent} heartbeats sent, {client.pongs} pongs "
                f"consumed by is_user_specific_pong -> heartbeat {'ok' if ok else 'FAILED'}")
        rtts = await asyncio.wait_for(transport.measure_roundtrip_time(3), 2)
        log(t0, "round-trip times of the JSON heartbeat: "
                + ", ".join(f"{x * 1e6:.0f} us" for x in rtts))

        # Phase 3: the exchange stalls; the client must notice within IDLE + REPLY.
        exchange.stalled = True
        stalled_at = time.monotonic()
        log(t0, "exchange: stalls (stops answering heartbeats)")
        await asyncio.wait_for(transport.wait_disconnected(), 5 * (IDLE + REPLY))
        took = time.monotonic() - stalled_at
        handshake = transport.close_handshake
        sent_close = handshake.sent if handshake is not None else None
        assert sent_close is not None, "no CLOSE was sent"
        log(t0, f"client: feed declared stale after {took:.3f}s "
                f"(bound {IDLE + REPLY:.3f}s + scheduling); we sent CLOSE "
                f"{int(sent_close.code)} ({WSCloseCode(sent_close.code).name}): "
                f"{sent_close.reason!r}")
        good = ok and sent_close.code == WSCloseCode.GOING_AWAY and took < IDLE + REPLY + 0.5
        return 0 if good else 1
    finally:
        server.close()
        await server.wait_closed()


async def remote(url: str, seconds: float) -> int:
    t0 = time.monotonic()
    transport, client = await connect(url, t0)
    try:
        await asyncio.wait_for(transport.wait_disconnected(), seconds)
        log(t0, f"client: connection ended: {transport.close_handshake!r}")
        return 1
    except asyncio.TimeoutError:
        pass
    log(t0, f"{client.trades} trades, {client.heartbeats_sent} heartbeats sent, "
            f"{client.pongs} pongs")
    transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="feed URL; default: run a local exchange")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="how long to stay connected to URL (default 5)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    coro = remote(args.url, args.seconds) if args.url else local_demo()
    return asyncio.run(coro)


if __name__ == "__main__":
    sys.exit(main())
