"""receive_data + events_received frames/s: picows_like.websockets' sans-I/O
Protocol (on the Cython engine) against websockets' own Protocol.

Each side gets the same pre-built byte stream (unmasked frames from a
server, as a client receives them) in 64 KiB chunks and turns it into
Frame events; the figure is frames per second of CPU time, best of
--repeat runs.

    .venv/bin/python benchmarks/sansio.py [--seconds 1.0] [--repeat 3]

Measured on the project's 2-core machine (Python 3.11, websockets 17.4),
frames/s: 64 B 365k vs 4.8M (13x; 15x in quieter runs), 1 KiB 362k vs
4.5M (12x), 64 KiB 57k vs 218k (3.8x, both copying the payload into bytes).
"""
import argparse
import struct
import time

from websockets.protocol import Protocol as WProtocol, Side as WSide

from picows_like.websockets.protocol import Protocol as OProtocol, Side as OSide

SIZES = (64, 1024, 64 * 1024)
CHUNK = 64 * 1024


def frame(payload):
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x82, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x82, 126, n) + payload
    return struct.pack("!BBQ", 0x82, 127, n) + payload


def chunks_for(size):
    one = frame(b"x" * size)
    per = max(1, CHUNK // len(one))
    stream = one * per
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)] or [stream], per


def rate(make, size, seconds):
    chunks, per = chunks_for(size)
    proto = make()
    frames = 0
    start = time.process_time()
    while True:
        for chunk in chunks:
            proto.receive_data(chunk)
            frames += len(proto.events_received())
        if time.process_time() - start >= seconds:
            break
    assert frames % per == 0
    return frames / (time.process_time() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    makers = {
        "websockets": lambda: WProtocol(WSide.CLIENT, max_size=None),
        "picows_like": lambda: OProtocol(OSide.CLIENT, max_size=None),
    }
    print(f"{'size':>8} {'websockets':>14} {'picows_like':>14} {'ratio':>7}   (frames/s)")
    for size in SIZES:
        best = {name: max(rate(make, size, args.seconds) for _ in range(args.repeat))
                for name, make in makers.items()}
        print(f"{size:>8} {best['websockets']:>14,.0f} {best['picows_like']:>14,.0f} "
              f"{best['picows_like'] / best['websockets']:>6.1f}x")


if __name__ == "__main__":
    main()
