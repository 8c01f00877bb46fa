"""Demo (`make demo`): a local market-data feed server streaming to a client.

    python examples/echo_demo.py [--seconds 5] [--rate 50000] [--uvloop]

The server streams JSON quotes (symbol, bid, ask, sizes, a send timestamp)
to the client at --rate messages per second, in bursts every millisecond,
like an exchange feed.  The client parses each quote, checks the sequence
numbers (no loss, no reordering) and measures the one-way latency from the
server's send timestamp (same machine, same clock).  A progress line shows
messages per second and latency percentiles each second; then the client
measures PING/PONG round trips and closes cleanly, and a summary is printed.

Server and client share one event loop (one core) here, so the latency
includes the other side's work and the 1 ms burst batching; it is a
liveliness view, not a benchmark (see benchmarks/ for those).
"""
import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import List, Optional

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

SYMBOLS = [b"BTC-USD", b"ETH-USD", b"SOL-USD", b"XRP-USD", b"DOGE-USD"]
BURST_INTERVAL = 0.001


class FeedServer(WSListener):
    """On {"op":"subscribe"} streams quotes at `rate` msg/s until "unsubscribe" or close.

    It honours backpressure: while the transport's write buffer is above its
    high-water mark (pause_writing) it stops producing and catches up on
    resume_writing, so a slow client costs at most one buffer, not memory
    without bound.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.seq = 0
        self.timer: Optional[asyncio.TimerHandle] = None
        self.started = 0.0
        self.streaming = False
        self.paused = False
        self.transport: Optional[WSTransport] = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        payload = frame.get_payload_as_bytes()
        if b"unsubscribe" in payload:
            self.streaming = False
            self._cancel_timer()
            transport.send(WSMsgType.TEXT, b'{"op":"unsubscribed","sent":%d}' % self.seq)
        elif b"subscribe" in payload:
            transport.send(WSMsgType.TEXT, b'{"op":"subscribed"}')
            self.streaming = True
            self.started = time.perf_counter()
            self._burst()

    def _burst(self) -> None:
        self.timer = None
        transport = self.transport
        if (transport is None or not self.streaming or transport.is_disconnected
                or transport.is_close_frame_sent):
            return
        due = int((time.perf_counter() - self.started) * self.rate)
        now_ns = time.perf_counter_ns()
        while self.seq < due and not self.paused:
            n = self.seq
            sym = SYMBOLS[n % len(SYMBOLS)]
            transport.send(WSMsgType.TEXT,
                           b'{"seq":%d,"sym":"%s","bid":%d.25,"ask":%d.75,"bsz":%d,"asz":%d,'
                           b'"ts":%d}' % (n, sym, 60000 + n % 97, 60000 + n % 97, n % 13 + 1,
                                          n % 11 + 1, now_ns))
            self.seq += 1
        if not self.paused:
            self.timer = asyncio.get_running_loop().call_later(BURST_INTERVAL, self._burst)

    def pause_writing(self) -> None:
        self.paused = True
        self._cancel_timer()

    def resume_writing(self) -> None:
        self.paused = False
        if self.streaming and self.timer is None:
            self._burst()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.streaming = False
        self._cancel_timer()


class FeedClient(WSListener):
    def __init__(self) -> None:
        self.count = 0
        self.next_seq = 0
        self.gaps = 0
        self.latencies_us: List[float] = []     # since the last progress line
        self.all_latencies_us: List[float] = []
        loop = asyncio.get_running_loop()
        self.subscribed: "asyncio.Future[None]" = loop.create_future()
        self.unsubscribed: "asyncio.Future[int]" = loop.create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        now_ns = time.perf_counter_ns()
        quote = json.loads(frame.get_payload_as_bytes())
        if "seq" not in quote:
            if quote.get("op") == "subscribed" and not self.subscribed.done():
                self.subscribed.set_result(None)
            elif quote.get("op") == "unsubscribed" and not self.unsubscribed.done():
                self.unsubscribed.set_result(quote["sent"])
            return
        if quote["seq"] != self.next_seq:
            self.gaps += 1
        self.next_seq = quote["seq"] + 1
        self.count += 1
        self.latencies_us.append((now_ns - quote["ts"]) / 1000)


def percentiles(values: List[float]) -> str:
    if not values:
        return "no data"
    v = sorted(values)

    def pick(q: float) -> float:
        return v[min(len(v) - 1, int(q * len(v)))]
    return f"p50 {pick(0.5):6.0f} us  p99 {pick(0.99):6.0f} us  max {v[-1]:7.0f} us"


async def main(seconds: float, rate: int) -> int:
    server = await picows.ws_create_server(lambda request: FeedServer(rate), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/feed"
    print(f"feed server: {url}, streaming {rate:,} quotes/s for {seconds:g} s")
    transport, client = await picows.ws_connect(FeedClient, url)
    transport.send(WSMsgType.TEXT, b'{"op":"subscribe","channel":"quotes"}')
    await asyncio.wait_for(client.subscribed, 5)

    t0 = time.perf_counter()
    last_count, last_t = 0, t0
    while (now := time.perf_counter()) - t0 < seconds:
        await asyncio.sleep(min(1.0, seconds - (now - t0)))
        now = time.perf_counter()
        lat, client.latencies_us = client.latencies_us, []
        client.all_latencies_us.extend(lat)
        print(f"[{now - t0:4.1f}s] {(client.count - last_count) / (now - last_t):>9,.0f} msg/s"
              f"  latency {percentiles(lat)}", flush=True)
        last_count, last_t = client.count, now
    # Stop the stream first: the reply tells how many quotes were sent, and
    # since frames arrive in order, every one of them has been parsed by now.
    transport.send(WSMsgType.TEXT, b'{"op":"unsubscribe"}')
    sent = await asyncio.wait_for(client.unsubscribed, 30)
    elapsed = time.perf_counter() - t0
    rtts = await asyncio.wait_for(transport.measure_roundtrip_time(200), 30)
    transport.send_close(WSCloseCode.OK, b"bye")
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    server.close()
    await server.wait_closed()

    client.all_latencies_us.extend(client.latencies_us)
    handshake = transport.close_handshake
    clean = (handshake is not None and handshake.recv is not None
             and handshake.recv.code == WSCloseCode.OK)
    print("summary:")
    print(f"  {client.count:,} quotes in {elapsed:.1f} s ({client.count / elapsed:,.0f} msg/s), "
          f"{sent:,} sent, {client.gaps} sequence gaps")
    print(f"  one-way latency (server send -> client parsed): "
          f"{percentiles(client.all_latencies_us)}")
    print(f"  PING/PONG round trip: median "
          f"{statistics.median(rtts) * 1e6:.0f} us over {len(rtts)} rounds")
    print(f"  close handshake: {'clean (1000)' if clean else handshake}")
    ok = client.gaps == 0 and 0 < client.count == sent and clean
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=50_000, help="quotes per second")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(asyncio.run(main(args.seconds, args.rate)))
