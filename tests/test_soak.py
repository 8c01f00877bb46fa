"""Soak: many frames through one connection and many connect/disconnect
cycles, with nothing lost (counts, byte sums and CRC32 match on both sides)
and resident memory / open file descriptors back at their starting level.

Bounded for CI on a small machine: each test runs its own event loop (these
are plain tests, outside the per-test 10 s safety net of conftest.py) with a
hard timeout.  The frame soak always sends exactly SOAK_FRAMES frames (mixed
sizes, mostly small so that a million of them stay cheap); its timeout is a
safety net that fails the test, it never cuts the soak short.

* frames soak: on uvloop and on asyncio;
* connect/disconnect cycles: on uvloop and on asyncio.

Environment: PICOWS_LIKE_SOAK_FRAMES (default 1,000,000),
PICOWS_LIKE_SOAK_TIMEOUT (default 180 s, the safety net),
PICOWS_LIKE_SOAK_CYCLES (default 2000).
"""

import asyncio
import gc
import os
import random
import time
import zlib

import pytest

import picows_like as picows

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

WSMsgType = picows.WSMsgType

SOAK_FRAMES = int(os.environ.get("PICOWS_LIKE_SOAK_FRAMES", "1000000"))
SOAK_TIMEOUT = float(os.environ.get("PICOWS_LIKE_SOAK_TIMEOUT", "180"))
SOAK_CYCLES = int(os.environ.get("PICOWS_LIKE_SOAK_CYCLES", "2000"))
RSS_TOLERANCE = 20 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_on(loop_name: str, main, timeout: float):
    if loop_name == "uvloop":
        if uvloop is None:  # pragma: no cover
            pytest.skip("uvloop is not installed")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), timeout))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def settle(fds_expected: int, timeout: float = 3.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        n = fd_count()
        if n <= fds_expected or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.02)


# -----------------------------------------------------------------------------
# Many frames through one connection
# -----------------------------------------------------------------------------

def mixed_sizes(n: int, seed: int = 1234):
    """Mostly small frames (cheap, so a million fit in CI), some medium, a
    few at the 16/64-bit length classes and their boundaries."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.90:
            out.append(rnd.randint(0, 125))
        elif r < 0.99:
            out.append(rnd.randint(126, 2048))
        elif r < 0.999:
            out.append(rnd.choice([65535, 4096, 16384, 126, 127, 125]))
        else:
            out.append(rnd.randint(65536, 70000))
    return out


def expected(payloads, n: int):
    """(count, byte sum, CRC32) of payloads[i % len(payloads)] for i < n,
    computed over whole cycles at once instead of frame by frame."""
    k, rest = divmod(n, len(payloads))
    cycle = b"".join(payloads)
    crc = 0
    for _ in range(k):
        crc = zlib.crc32(cycle, crc)
    tail = b"".join(payloads[:rest])
    crc = zlib.crc32(tail, crc)
    return n, k * len(cycle) + len(tail), crc


class Sink(picows.WSListener):
    """Server side: counts, sums and CRCs every data frame."""

    def __init__(self, done):
        self.count = 0
        self.total = 0
        self.crc = 0
        self.expected = None
        self.done = done
        self.bad = None

    def on_ws_frame(self, transport, frame):
        if frame.msg_type != WSMsgType.BINARY:
            if frame.msg_type != WSMsgType.CLOSE and self.bad is None:
                self.bad = frame.msg_type
            return
        mv = frame.get_payload_as_memoryview()
        self.count += 1
        self.total += len(mv)
        self.crc = zlib.crc32(mv, self.crc)
        self.check()

    def check(self):
        if self.expected is not None and self.count >= self.expected and not self.done.done():
            self.done.set_result(None)


class Source(picows.WSListener):
    def __init__(self):
        self.can_write = asyncio.Event()
        self.can_write.set()

    def pause_writing(self):
        self.can_write.clear()

    def resume_writing(self):
        self.can_write.set()


async def _frames_soak():
    loop = asyncio.get_running_loop()
    sizes = mixed_sizes(8192)
    blob = random.Random(99).randbytes(70000 + 8192)
    payloads = [blob[i % 8192:i % 8192 + s] for i, s in enumerate(sizes)]
    n_payloads = len(payloads)
    done = loop.create_future()
    sinks = []

    def server_factory(request):
        sinks.append(Sink(done))
        return sinks[-1]

    server = await picows.ws_create_server(server_factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    # Warm up first-use allocations (resolver threads, loop internals), then
    # take the baseline with the server listening.
    warm, _ = await picows.ws_connect(Source, url)
    warm.disconnect(False)
    await asyncio.wait_for(warm.wait_disconnected(), 5)
    del warm
    sinks.clear()
    await settle(0, timeout=0.2)
    fds0, rss0 = fd_count(), rss()

    client, source = await picows.ws_connect(Source, url)
    client.underlying_transport.set_write_buffer_limits(high=1024 * 1024, low=256 * 1024)

    send = client.send
    binary = WSMsgType.BINARY
    t0 = time.monotonic()
    sent = 0
    batch = 1000
    while sent < SOAK_FRAMES:
        # Count-driven: exactly SOAK_FRAMES frames, in batches, with the
        # transport's flow control (pause_writing) respected between them.
        end = min(sent + batch, SOAK_FRAMES)
        for i in range(sent, end):
            send(binary, payloads[i % n_payloads])
        sent = end
        await asyncio.sleep(0)
        if not source.can_write.is_set():
            await source.can_write.wait()
    sink = sinks[0]
    sink.expected = sent
    sink.check()
    await asyncio.shield(done)
    elapsed = time.monotonic() - t0
    count, total, crc = expected(payloads, SOAK_FRAMES)
    print(f"\nsoak: {sent} frames, {total / 1e6:.1f} MB in {elapsed:.2f} s "
          f"({sent / elapsed:,.0f} frames/s)")

    assert sink.bad is None, f"unexpected frame type {sink.bad}"
    assert (sink.count, sink.total, sink.crc) == (count, total, crc)

    client.send_close(picows.WSCloseCode.OK)
    await asyncio.wait_for(client.wait_disconnected(), 5)
    del client, source, sinks, sink
    fds = await settle(fds0)
    gc.collect()
    rss_growth = rss() - rss0
    print(f"soak: fds {fds0} -> {fds}, RSS growth {rss_growth / 1e6:.1f} MB")
    server.close()
    await server.wait_closed()
    # Fewer is fine: on a loaded machine the warm-up connection's server side may still
    # hold its socket when the baseline is taken.  More would be a leak.
    assert fds <= fds0
    assert rss_growth < RSS_TOLERANCE
    return sent


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_soak_many_frames_one_connection(loop_name):
    # The timeout is a safety net: hitting it fails the test (TimeoutError).
    assert run_on(loop_name, _frames_soak, timeout=SOAK_TIMEOUT) == SOAK_FRAMES


# -----------------------------------------------------------------------------
# Connect / disconnect cycles
# -----------------------------------------------------------------------------

class Echo(picows.WSListener):
    stats = None

    def on_ws_connected(self, transport):
        self.stats["connected"] += 1

    def on_ws_disconnected(self, transport):
        self.stats["disconnected"] += 1

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())


class Client(picows.WSListener):
    def __init__(self):
        self.reply = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT and not self.reply.done():
            self.reply.set_result(frame.get_payload_as_bytes())


async def _one_cycle(url, i, mode):
    client, listener = await picows.ws_connect(Client, url)
    msg = b"cycle %d" % i
    client.send(WSMsgType.TEXT, msg)
    assert await asyncio.wait_for(listener.reply, 5) == msg
    if mode == 0:                 # close handshake
        client.send_close(picows.WSCloseCode.OK)
    elif mode == 1:               # graceful TCP close, no handshake
        client.disconnect()
    else:                         # abort
        client.disconnect(False)
    await asyncio.wait_for(client.wait_disconnected(), 5)


async def _cycles_soak():
    gc.collect()
    stats = {"connected": 0, "disconnected": 0}

    class Listener(Echo):
        pass
    Listener.stats = stats

    server = await picows.ws_create_server(lambda r: Listener(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    # Warm up (first-use allocations), then take the baseline.
    for i in range(20):
        await _one_cycle(url, i, i % 3)
    await settle(0, timeout=0.2)
    fds0, rss0 = fd_count(), rss()

    workers = 4
    per_worker = SOAK_CYCLES // workers

    async def worker(w):
        for i in range(per_worker):
            await _one_cycle(url, w * per_worker + i, (w + i) % 3)

    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.monotonic() - t0
    n = per_worker * workers

    # The server saw every connection come and go.
    deadline = time.monotonic() + 5
    while stats["disconnected"] < n + 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert stats == {"connected": n + 20, "disconnected": n + 20}

    fds = await settle(fds0)
    gc.collect()
    rss_growth = rss() - rss0
    print(f"\ncycles: {n} in {elapsed:.2f} s, fds {fds0} -> {fds}, "
          f"RSS growth {rss_growth / 1e6:.1f} MB")
    # Fewer is fine: on a loaded machine the warm-up connection's server side may still
    # hold its socket when the baseline is taken.  More would be a leak.
    assert fds <= fds0
    assert rss_growth < RSS_TOLERANCE
    server.close()
    await server.wait_closed()
    return n


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_soak_connect_disconnect_cycles(loop_name):
    assert run_on(loop_name, _cycles_soak, timeout=60) == SOAK_CYCLES // 4 * 4
