#!/usr/bin/env python3
"""atheris target: the server's upgrade request parser.

    request = picows_like.handshake.parse_request(head)   # head: bytes before CRLFCRLF
    accept  = picows_like.handshake.validate_request(request)

may raise only HandshakeRejected (with a 4xx response); an accepted request
must yield a 28-character base64 Sec-WebSocket-Accept.  Anything else raised
is a bug.

Half of the inputs are raw bytes; the other half build a valid request from
the input (header order, case, whitespace, extra headers) and then damage it
at one point.

Run:  python fuzz/fuzz_upgrade_request.py [libFuzzer flags] [corpus dir]
"""
import base64
import binascii
import sys

import atheris

with atheris.instrument_imports():
    from picows_like.handshake import HandshakeRejected, parse_request, validate_request

TOKEN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~"


@atheris.instrument_func
def check(head: bytes):
    try:
        accept = validate_request(parse_request(head))
    except HandshakeRejected as exc:
        status = int(exc.response.status)
        if not 400 <= status < 500:
            raise AssertionError(f"rejected with status {status}")
        return
    if not isinstance(accept, bytes) or len(accept) != 28:
        raise AssertionError(f"bad accept value {accept!r}")
    if len(binascii.a2b_base64(accept)) != 20:
        raise AssertionError(f"accept is not a base64 SHA-1: {accept!r}")


@atheris.instrument_func
def structured(fdp) -> bytes:
    key = base64.b64encode(fdp.ConsumeBytes(16).ljust(16, b"k"))
    headers = [
        (b"Host", b"example.com"),
        (b"Upgrade", fdp.PickValueInList([b"websocket", b"WebSocket", b"h2c, websocket"])),
        (b"Connection", fdp.PickValueInList([b"Upgrade", b"upgrade", b"keep-alive, Upgrade"])),
        (b"Sec-WebSocket-Key", key),
        (b"Sec-WebSocket-Version", fdp.PickValueInList([b"13", b"13", b"8", b""])),
    ]
    for _ in range(fdp.ConsumeIntInRange(0, 5)):
        name = bytes(TOKEN[b % len(TOKEN)] for b in fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 12)))
        headers.append((name or b"X", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 30))))
    order = list(range(len(headers)))
    for i in range(len(order) - 1, 0, -1):
        j = fdp.ConsumeIntInRange(0, i)
        order[i], order[j] = order[j], order[i]
    lines = [fdp.PickValueInList([b"GET", b"get", b"POST", b"GET"]) + b" /"
             + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 10))
             + b" " + fdp.PickValueInList([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.1"])]
    for i in order:
        name, value = headers[i]
        case = fdp.ConsumeIntInRange(0, 2)
        name = name.lower() if case == 1 else name.upper() if case == 2 else name
        ows = fdp.PickValueInList([b"", b" ", b"\t", b"  "])
        lines.append(name + b":" + ows + value + ows)
    data = bytearray(b"\r\n".join(lines))
    how = fdp.ConsumeIntInRange(0, 4)
    if data and how:
        pos = fdp.ConsumeIntInRange(0, len(data) - 1)
        byte = fdp.ConsumeIntInRange(0, 255)
        if how == 1:
            data[pos] = byte
        elif how == 2:
            data.insert(pos, byte)
        elif how == 3:
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


@atheris.instrument_func
def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        check(structured(fdp))
    else:
        check(fdp.ConsumeBytes(fdp.remaining_bytes()))


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
