"""A WSProtocol driven in process, the way asyncio drives a BufferedProtocol:
a fake transport that records what the protocol writes, and helpers that
"read" bytes into the protocol's buffer and build client (masked) or server
(unmasked) frames.  No event loop runs; tests call the protocol directly."""
import asyncio
import struct

# A fixed masking key: the frames are reproducible (tests compare bytes).
MASK = b"\x01\x02\x03\x04"


class FakeTransport(asyncio.Transport):
    """Records writes (`written`, and each call in `writes`), write_eof,
    close and abort; `get_extra_info("socket")` returns `sock`."""

    def __init__(self, sock):
        super().__init__()
        self._sock = sock
        self.written = bytearray()
        self.writes = []
        self.eof_written = False
        self.aborted = False
        self.closed = False

    def get_extra_info(self, name, default=None):
        return self._sock if name == "socket" else default

    def write(self, data):
        self.writes.append(bytes(data))
        self.written += data

    def writelines(self, chunks):
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self):
        return 0

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof_written = True

    def is_closing(self):
        return self.closed or self.aborted

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def feed(protocol, data, step=None) -> None:
    """Read all of `data` into the protocol, at most `step` bytes per read."""
    while data:
        n = read_once(protocol, data[:step] if step else data)
        data = data[n:]


def read_once(protocol, data) -> int:
    """One read of at most len(get_buffer()) bytes; returns the bytes taken."""
    buf = protocol.get_buffer(-1)
    n = min(len(buf), len(data))
    memoryview(buf)[:n] = data[:n]
    protocol.buffer_updated(n)
    return n


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client's frame (payload < 126 bytes)."""
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + MASK + body


def unmasked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server's frame (payload < 126 bytes)."""
    assert len(payload) < 126
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, len(payload)) + payload
