"""Unit tests of the websockets layer's message assembler (the one place that
queues and reassembles received messages): fragments, max_queue flow
control, one reader at a time, close, recv_streaming, cancellation.

Each test runs against the compiled module and against the same source run
as plain Python, so both modes keep the same behaviour.  Readers are driven
by hand where the interleaving matters (Receive.send(None) returns the future
it parks, or raises StopIteration with the message), so no test depends on
timing.
"""
import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

import picows_like.websockets.asyncio._fastpath as compiled
from picows_like import WSMsgType
from picows_like._frame import make_test_frame
from picows_like.websockets.exceptions import ConcurrencyError, ConnectionClosedOK

pytestmark = pytest.mark.asyncio

TEXT, BINARY, CONT = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION


def _load_uncompiled():
    name = "picows_like.websockets.asyncio._fastpath_pure"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(compiled.__file__).with_name("_fastpath.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["compiled", "pure"])
def fp(request):
    module = compiled if request.param == "compiled" else _load_uncompiled()
    if request.param == "compiled" and not module.__file__.endswith((".so", ".pyd")):
        pytest.skip("_fastpath is not compiled here")
    return module


def frame(op, payload, fin=True):
    return make_test_frame(op, payload, fin=fin)


def make(fp, **kwargs):
    return fp.Assembler(asyncio.get_running_loop().create_future, **kwargs)


def step(receive):
    """One step of a hand-driven reader: ("msg", value) or ("wait", future)."""
    try:
        return "wait", receive.send(None)
    except StopIteration as stop:
        return "msg", stop.value


async def test_single_frames_in_order(fp):
    asm = make(fp)
    assert asm.put_frame(frame(TEXT, "héllo".encode())) == 0
    asm.put_frame(frame(BINARY, b"\x00\x01"))
    assert len(asm) == 2
    assert await asm.get() == "héllo"
    assert await asm.get() == b"\x00\x01"
    assert len(asm) == 0


async def test_decode_modes(fp):
    asm = make(fp)
    for _ in range(2):
        asm.put_frame(frame(TEXT, b"abc"))
        asm.put_frame(frame(BINARY, b"xyz"))
    assert await asm.get(decode=False) == b"abc"
    assert await asm.get(decode=True) == "xyz"
    assert await asm.get(decode=True) == "abc"
    assert await asm.get(decode=False) == b"xyz"
    asm.put_frame(frame(BINARY, b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        await asm.get(decode=True)
    assert len(asm) == 0            # consumed, as in websockets: the connection fails


async def test_fragments_join_only_when_complete(fp):
    asm = make(fp)
    text = "añb€c".encode()
    asm.put_frame(frame(TEXT, text[:2], fin=False))     # splits the two-byte ñ
    reader = asm.get()
    kind, fut = step(reader)
    assert kind == "wait"
    asm.put_frame(frame(CONT, text[2:6], fin=False))    # woken, still incomplete
    assert fut.done()
    kind, fut = step(reader)
    assert kind == "wait"
    asm.put_frame(frame(CONT, text[6:], fin=True))
    assert fut.done()
    assert step(reader) == ("msg", "añb€c")
    # A message that follows a fragmented one keeps its place.
    asm.put_frame(frame(BINARY, b"a", fin=False))
    asm.put_frame(frame(CONT, b"b", fin=True))
    asm.put_frame(frame(BINARY, b"c"))
    assert await asm.get() == b"ab"
    assert await asm.get() == b"c"
    asm.put_frame(frame(TEXT, b"x", fin=False))
    asm.put_frame(frame(CONT, b"y", fin=True))
    assert await asm.get(decode=False) == b"xy"


async def test_max_queue_pauses_above_high_and_resumes_at_low(fp):
    calls = []
    asm = make(fp, high=4, low=1, pause=lambda: calls.append("pause"),
               resume=lambda: calls.append("resume"))
    for i in range(4):
        asm.put_frame(frame(BINARY, bytes([i])))
    assert calls == [] and not asm.paused
    asm.put_frame(frame(BINARY, b"\x04"))               # 5 > high
    assert calls == ["pause"] and asm.paused
    asm.put_frame(frame(TEXT, b"a", fin=False))         # a fragmented message counts too
    asm.put_frame(frame(CONT, b"b", fin=True))
    assert calls == ["pause"]                           # paused once
    for i in range(4):
        assert await asm.get() == bytes([i])            # 6 -> 2 queued
    assert calls == ["pause"]
    assert await asm.get() == b"\x04"                   # 1 queued == low
    assert calls == ["pause", "resume"] and not asm.paused
    assert await asm.get() == "ab"
    assert calls == ["pause", "resume"]


async def test_max_queue_defaults_and_checks(fp):
    asm = make(fp, high=16)
    assert (asm.high, asm.low) == (16, 4)
    asm = make(fp, low=3)
    assert (asm.high, asm.low) == (12, 3)
    with pytest.raises(ValueError):
        make(fp, high=1, low=2)
    with pytest.raises(ValueError):
        make(fp, high=4, low=-1)
    calls = []
    asm = make(fp, pause=lambda: calls.append("pause"))     # no limit
    for _ in range(1000):
        asm.put_frame(frame(BINARY, b"x"))
    assert calls == []


async def test_lift_limit_resumes_and_never_pauses_again(fp):
    calls = []
    asm = make(fp, high=1, low=0, pause=lambda: calls.append("pause"),
               resume=lambda: calls.append("resume"))
    asm.put_frame(frame(BINARY, b"1"))
    asm.put_frame(frame(BINARY, b"2"))
    assert calls == ["pause"]
    asm.lift_limit()                     # closing: the peer's CLOSE must get through
    assert calls == ["pause", "resume"]
    for _ in range(10):
        asm.put_frame(frame(BINARY, b"3"))
    assert calls == ["pause", "resume"]


async def test_two_readers_raise_concurrency_error(fp):
    asm = make(fp)
    first = asm.get()
    kind, fut = step(first)
    assert kind == "wait"
    with pytest.raises(ConcurrencyError):
        step(asm.get())
    with pytest.raises(ConcurrencyError):
        await asm.get_iter().__anext__()
    with pytest.raises(ConcurrencyError):
        step(asm.__aiter__().__anext__())
    asm.put_frame(frame(TEXT, b"one"))
    assert step(first) == ("msg", "one")
    # The first reader is done: a new one may read.
    asm.put_frame(frame(TEXT, b"two"))
    assert await asm.get() == "two"


async def test_streaming_reader_excludes_others_until_done(fp):
    asm = make(fp)
    asm.put_frame(frame(BINARY, b"a", fin=False))
    it = asm.get_iter()
    assert await it.__anext__() == b"a"
    with pytest.raises(ConcurrencyError):
        step(asm.get())
    asm.put_frame(frame(CONT, b"b", fin=True))
    assert [part async for part in it] == [b"b"]
    asm.put_frame(frame(BINARY, b"c"))
    assert await asm.get() == b"c"


async def test_get_after_close_drains_then_raises(fp):
    class Closed(Exception):
        pass
    asm = make(fp, closed_error=lambda: Closed("bye"))
    asm.put_frame(frame(TEXT, b"last"))
    asm.put_frame(frame(TEXT, b"part", fin=False))      # never completed
    asm.close()
    assert await asm.get() == "last"
    with pytest.raises(Closed):
        await asm.get()
    with pytest.raises(Closed):                         # every time, a fresh error
        await asm.get()
    # The default error is EOFError, as websockets' assembler raises.
    plain = make(fp)
    plain.close()
    with pytest.raises(EOFError):
        await plain.get()


async def test_close_wakes_a_waiting_reader(fp):
    class Closed(Exception):
        pass
    asm = make(fp, closed_error=lambda: Closed())
    reader = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)              # let it park its future
    assert not reader.done()
    asm.close()
    with pytest.raises(Closed):
        await asyncio.wait_for(reader, 2)


async def test_async_for_ends_on_normal_close(fp):
    asm = make(fp, closed_error=lambda: ConnectionClosedOK(None, None))
    asm.put_frame(frame(TEXT, b"a"))
    asm.put_frame(frame(BINARY, b"b"))
    asm.close()
    assert [m async for m in asm] == ["a", b"b"]


async def test_recv_streaming_yields_fragments_as_they_arrive(fp):
    asm = make(fp)
    data = "€uro".encode()                  # € is three bytes
    asm.put_frame(frame(TEXT, data[:1], fin=False))
    it = asm.get_iter()
    assert await it.__anext__() == ""       # incremental decoder: nothing whole yet
    nxt = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0)
    assert not nxt.done()                   # waits for the next fragment
    asm.put_frame(frame(CONT, data[1:4], fin=False))
    assert await asyncio.wait_for(nxt, 2) == "€u"
    asm.put_frame(frame(CONT, data[4:], fin=True))
    assert [p async for p in it] == ["ro"]
    # decode=False streams TEXT as bytes; a single-frame message is one part.
    asm.put_frame(frame(TEXT, b"xy"))
    assert [p async for p in asm.get_iter(decode=False)] == [b"xy"]
    asm.put_frame(frame(BINARY, b"q", fin=False))
    asm.put_frame(frame(CONT, b"r", fin=True))
    assert [p async for p in asm.get_iter(decode=True)] == ["q", "r"]


async def test_recv_streaming_raises_when_closed_mid_message(fp):
    class Closed(Exception):
        pass
    asm = make(fp, closed_error=lambda: Closed())
    asm.put_frame(frame(BINARY, b"a", fin=False))
    it = asm.get_iter()
    assert await it.__anext__() == b"a"
    asm.close()
    with pytest.raises(Closed):
        await it.__anext__()
    assert not asm._busy


async def test_cancelled_recv_does_not_lose_a_message(fp):
    asm = make(fp)
    # Cancelled while waiting.
    reader = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    asm.put_frame(frame(TEXT, b"one"))
    # Cancelled after the message arrived (its future resolved) but before
    # the reader ran: the message stays queued for the next reader.
    asm.put_frame(frame(TEXT, b"two", fin=False))
    reader = asyncio.ensure_future(asm.get())
    assert await asyncio.wait_for(reader, 2) == "one"
    reader = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.put_frame(frame(CONT, b"!", fin=True))      # resolves the parked future
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert len(asm) == 1
    assert await asm.get() == "two!"
    # A hand-driven reader cancelled by throw() frees the assembler.
    parked = asm.get()
    assert step(parked)[0] == "wait"
    with pytest.raises(asyncio.CancelledError):
        parked.throw(asyncio.CancelledError)
    asm.put_frame(frame(TEXT, b"three"))
    assert await asm.get() == "three"


async def test_oversized_fragmented_message_is_dropped(fp):
    asm = make(fp, max_message=10)
    asm.put_frame(frame(BINARY, b"ok"))
    assert asm.put_frame(frame(BINARY, b"x" * 6, fin=False)) == 0
    assert asm.put_frame(frame(CONT, b"y" * 6, fin=False)) == 12    # its size so far
    assert len(asm) == 1                     # dropped; the complete one stays
    # Everything after it is dropped too: the connection is failing.
    assert asm.put_frame(frame(CONT, b"z", fin=True)) == 0
    assert asm.put_frame(frame(BINARY, b"late")) == 0
    assert len(asm) == 1
    assert await asm.get() == b"ok"


async def test_discard_while_streaming_keeps_the_reader_s_message(fp):
    class Closed(Exception):
        pass
    asm = make(fp, closed_error=lambda: Closed())
    asm.put_frame(frame(BINARY, b"a", fin=False))
    it = asm.get_iter()
    assert await it.__anext__() == b"a"
    asm.discard()                           # the connection fails (keepalive, say)
    asm.put_frame(frame(CONT, b"b", fin=True))      # dropped
    asm.close()
    with pytest.raises(Closed):
        await it.__anext__()


async def test_connection_reads_through_its_assembler():
    """The connection keeps no queue of its own: recv, recv_streaming and
    ``async for`` all read from connection._assembler."""
    from picows_like.websockets.asyncio.client import ClientConnection
    from picows_like.websockets.asyncio.messages import Assembler
    conn = ClientConnection(max_queue=(8, 2))
    asm = conn._assembler
    assert isinstance(asm, Assembler) and Assembler is compiled.Assembler
    assert (conn.max_queue_high, conn.max_queue_low) == (8, 2)
    conn.on_ws_frame(None, frame(TEXT, b"a"))
    conn.on_ws_frame(None, frame(BINARY, b"b", fin=False))
    conn.on_ws_frame(None, frame(CONT, b"c", fin=True))
    conn.on_ws_frame(None, frame(TEXT, b"d"))
    assert len(asm) == 3
    assert await conn.recv() == "a"
    assert [p async for p in conn.recv_streaming()] == [b"b", b"c"]
    assert await conn.recv(decode=False) == b"d"
    assert len(asm) == 0
    none = ClientConnection(max_queue=None)
    assert (none.max_queue_high, none.max_queue_low) == (None, None)
    with pytest.raises(ValueError):
        ClientConnection(max_queue=(1, 2))
