"""Helpers shared by the echo benchmark's server and client processes."""

from __future__ import annotations

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
    """Times strict request/response round trips in measuring windows (Python clients).

    One object per connection. begin(settle, duration) starts a window: round
    trips go on for settle + duration seconds, and only those *sent* after the
    settle time are timed (the first ones after an idle pause pay for waking
    up). Usage inside a window: sent() right before each send; received(...)
    as soon as the full echo is in (it verifies type and size and returns
    whether to send again); when content_due is set, pass the echoed bytes to
    check_content(). Latencies of all windows accumulate in latencies_ns.
    benchmarks/cython/echo_listener.pxi does exactly the same in C.
    """

    def __init__(self, size: int):
        self.size = size
        self.payload = make_payload(size)
        self.latencies_ns = array("q")
        self.echoes = 0            # all echoes received, settle time included
        self.content_checks = 0
        self.content_due = False
        self.first_sent = self.last_received = 0    # of the current window's measured part
        self._measure_from = self._stop_at = 0
        self._t_sent = 0

    def begin(self, settle: float, duration: float) -> None:
        self.first_sent = self.last_received = 0
        self._measure_from = perf_counter_ns() + int(settle * 1e9)
        self._stop_at = self._measure_from + int(duration * 1e9)

    def sent(self) -> None:
        self._t_sent = perf_counter_ns()

    def received(self, is_binary: bool, size: int) -> bool:
        now = perf_counter_ns()
        if not is_binary or size != self.size:
            raise EchoMismatch(f"echo #{self.echoes + 1}: expected a final binary message of "
                               f"{self.size} bytes, got binary={is_binary} size={size}")
        if self._t_sent >= self._measure_from:
            if not self.first_sent:
                self.first_sent = self._t_sent
            self.latencies_ns.append(now - self._t_sent)
            self.last_received = now
        self.echoes += 1
        self.content_due = self.echoes % CHECK_EVERY == 1
        return now < self._stop_at

    def check_content(self, data) -> None:
        self.content_checks += 1
        if data != self.payload:
            raise EchoMismatch(f"echo #{self.echoes}: payload content differs")


def server_ssl_context(certfile: str | None):
    """TLS context for the echo server (cert + key in one PEM file), or None for TCP."""
    if not certfile:
        return None
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile)
    return ctx


def client_ssl_context(cafile: str | None):
    """TLS context trusting only the benchmark's CA (it verifies 127.0.0.1), or None for TCP."""
    if not cafile:
        return None
    import ssl
    return ssl.create_default_context(cafile=cafile)


def read_cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
