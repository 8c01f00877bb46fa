"""Helpers shared by the fan-in benchmark's processes (benchmarks/fanin.py)."""

from __future__ import annotations

import asyncio
import os
import resource
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
END_PREFIX = b"END "            # the server's last frame on a connection: b"END <sent count>"


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux /proc/PID/statm)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu_and_wait_s(pid: int | str = "self") -> tuple[float, float]:
    """(CPU time, time runnable but waiting for a CPU) of a process so far, in
    seconds (Linux /proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        run_ns, wait_ns = f.read().split()[:2]
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def raise_nofile(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit (up to the hard limit) to at least
    `needed`; exits with a clear message if the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"fan-in needs {needed} open files but RLIMIT_NOFILE's hard limit is {hard}; "
                 f"raise it (ulimit -Hn, limits.conf) or use fewer connections")
    new = needed if hard == resource.RLIM_INFINITY else max(needed, min(hard, 1 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked FIN frame (server to client), payload < 126 bytes."""
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


class StdinLines:
    """Lines from stdin, read through the event loop (works on asyncio and uvloop).
    get() returns '' once stdin is closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._buf = b""
        self._loop = loop
        self._fd = sys.stdin.fileno()
        loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        data = os.read(self._fd, 4096)
        if not data:
            self._loop.remove_reader(self._fd)
            self._queue.put_nowait("")
            return
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            if line.strip():            # '' is reserved for end of input
                self._queue.put_nowait(line.decode().strip())

    async def get(self) -> str:
        return await self._queue.get()


def say(tag: str, payload: str = "") -> None:
    """One line to the orchestrator."""
    print(f"{tag} {payload}".strip(), flush=True)
