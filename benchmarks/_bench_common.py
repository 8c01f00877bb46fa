"""Helpers shared by the echo benchmark's server and client processes."""

from __future__ import annotations

import asyncio
import os
import sys
from array import array
from pathlib import Path
from time import perf_counter_ns

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MAX_MESSAGE = 16 * 1024 * 1024   # generous limit for every library (largest cell is 1 MiB)
PICOWS_API = ("ws_connect", "ws_create_server", "WSListener", "WSMsgType", "WSCloseCode")
CHECK_EVERY = 64                 # compare echoed content on the 1st, 65th, 129th ... echo


def pin_to_cpu(cpu: int | None) -> str:
    """Pin this process to one CPU (falls back to an allowed one); returns a label."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    allowed = sorted(os.sched_getaffinity(0))
    target = cpu if cpu in allowed else allowed[cpu % len(allowed)]
    os.sched_setaffinity(0, {target})
    return f"cpu{target}"


def loop_factory(name: str):
    """Event loop factory for asyncio.Runner: None means the default asyncio loop."""
    if name == "asyncio":
        return None
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    raise ValueError(f"unknown loop {name!r}")


def import_picows_like():
    """Import picows_like: installed, or else built in place in the repository root."""
    try:
        import picows_like
    except ImportError:
        if str(REPO_ROOT) in sys.path:
            raise
        sys.path.insert(0, str(REPO_ROOT))
        import picows_like
    missing = [name for name in PICOWS_API if not hasattr(picows_like, name)]
    if missing:   # e.g. a source tree without __init__.py imports as a namespace package
        raise ImportError(f"picows_like at {list(picows_like.__path__)} is incomplete, "
                          f"missing: {', '.join(missing)}")
    return picows_like


def import_ws_library(impl: str):
    """The picows-API module for a server/client implementation name."""
    if impl == "picows":
        import picows
        return picows
    if impl == "picows_like":
        return import_picows_like()
    raise ValueError(f"unknown implementation {impl!r}")


def make_payload(size: int) -> bytes:
    """A random payload (a 64-byte random block repeated), so content checks mean something."""
    seed = os.urandom(64)
    return (seed * (size // len(seed) + 1))[:size]


def runqueue_wait_ns(pid: int | str = "self") -> int | None:
    """Time a process has spent runnable but waiting for a CPU (Linux schedstat), or None.

    On a shared machine this is the direct measure of being disturbed by others.
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None


class EchoMismatch(Exception):
    """The echo did not match what was sent."""


class RoundTrips:
    """Times strict request/response round trips: a warm-up, then a fixed measuring window.

    Usage: start() once connected; sent() right before each send; received(...) as
    soon as the full echo is in (it verifies size and type, and returns whether to
    send again); when content_due is set, pass the echoed bytes to check_content().
    Only round trips *sent* inside the window are counted and timed. The time this
    process waited for a CPU from start() to the end is reported as cpu_wait_s.
    """

    def __init__(self, size: int, warmup: float, duration: float):
        self.size = size
        self.payload = make_payload(size)
        self.latencies_ns = array("q")
        self.echoes = 0            # all echoes received, warm-up included
        self.content_checks = 0
        self.content_due = False
        self._warmup_ns = int(warmup * 1e9)
        self._duration_ns = int(duration * 1e9)
        self._measure_from = self._stop_at = 0
        self._t_sent = 0
        self._first_sent = self._last_received = 0
        self._t_start = self._t_end = 0
        self._wait_start = self._wait_end = None

    def start(self) -> None:
        self._wait_start = runqueue_wait_ns()
        now = self._t_start = perf_counter_ns()
        self._measure_from = now + self._warmup_ns
        self._stop_at = self._measure_from + self._duration_ns

    def sent(self) -> None:
        self._t_sent = perf_counter_ns()

    def received(self, is_binary: bool, size: int) -> bool:
        now = perf_counter_ns()
        if not is_binary or size != self.size:
            raise EchoMismatch(f"echo #{self.echoes + 1}: expected a binary message of "
                               f"{self.size} bytes, got binary={is_binary} size={size}")
        if self._t_sent >= self._measure_from:
            if not self._first_sent:
                self._first_sent = self._t_sent
            self.latencies_ns.append(now - self._t_sent)
            self._last_received = now
        self.echoes += 1
        self.content_due = self.echoes % CHECK_EVERY == 1
        if now < self._stop_at:
            return True
        self._t_end = now
        self._wait_end = runqueue_wait_ns()
        return False

    def check_content(self, data) -> None:
        self.content_checks += 1
        if data != self.payload:
            raise EchoMismatch(f"echo #{self.echoes}: payload content differs")

    def result(self) -> dict:
        count = len(self.latencies_ns)
        if count == 0:
            raise RuntimeError("no round trip completed inside the measuring window")
        elapsed = (self._last_received - self._first_sent) / 1e9
        cpu_wait = (None if self._wait_start is None or self._wait_end is None
                    else (self._wait_end - self._wait_start) / 1e9)
        return {"count": count, "elapsed": elapsed, "rps": count / elapsed,
                "echoes": self.echoes, "content_checks": self.content_checks,
                "cpu_wait_s": cpu_wait, "span_s": (self._t_end - self._t_start) / 1e9}
