"""Run by tests/test_cython_api.py::test_payload_slack_under_asan in a
subprocess whose picows_like and cython_echo are AddressSanitizer builds
(LD_PRELOAD=libasan).  A picows_like server with read_buffer_init_size=256
receives a 256-byte frame (it fills the read buffer) and a 5000-byte one (the
buffer grows to exactly that size); the Cython listener reads
WS_PAYLOAD_SLACK + EXTRA bytes after each payload.  EXTRA=0 must run clean;
EXTRA=1 must be reported by ASan as a heap-buffer-overflow.

    python asan_probe.py EXTRA
"""
import asyncio
import os
import sys

import cython_echo

import picows_like


async def main(extra: int) -> None:
    listeners = []

    def factory(request):
        listener = cython_echo.EchoListener(True)
        listener.probe_extra = extra
        listeners.append(listener)
        return listener

    server = await picows_like.ws_create_server(factory, "127.0.0.1", 0,
                                                read_buffer_init_size=256)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    for probe, total in enumerate((256, 5000), 1):
        payload = b"\xa5" * (total - 8)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        # 16-bit length, masked: 2 + 2 + 4 header bytes.
        writer.write(bytes([0x82, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked)
        for _ in range(500):
            if listeners and listeners[0].slack_probes == probe:
                break
            await asyncio.sleep(0.01)
        else:
            raise SystemExit(f"probe {probe} did not run")
    print(f"picows_like: {picows_like.__file__}")
    print(f"slack probes: {listeners[0].slack_probes}, "
          f"read {cython_echo.PAYLOAD_SLACK + extra} bytes after each payload")
    writer.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
