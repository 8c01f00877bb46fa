"""websockets' sans-I/O data structures, differentially tested.

Every test body runs against both ``websockets.<module>`` (the reference,
websockets 17) and ``picows_like.websockets.<module>``:

* ``impl``-parametrised tests pin exact values (results, exception types,
  ``str()``) that both implementations must produce;
* ``@given`` tests feed the same generated inputs (close payloads, frames,
  header operation sequences, URLs, HTTP heads) to both and compare the
  outcomes: the value, or the exception's type name and text.
"""
import dataclasses
import enum
import os
import string
import types

import pytest

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("picows has no websockets data structures", allow_module_level=True)

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import websockets.datastructures  # noqa: E402
import websockets.exceptions  # noqa: E402
import websockets.frames  # noqa: E402
import websockets.http11  # noqa: E402
import websockets.uri  # noqa: E402
from websockets.streams import StreamReader  # noqa: E402

import picows_like.websockets.datastructures  # noqa: E402
import picows_like.websockets.exceptions  # noqa: E402
import picows_like.websockets.frames  # noqa: E402
import picows_like.websockets.http11  # noqa: E402
import picows_like.websockets.uri  # noqa: E402

MODULES = ("frames", "uri", "datastructures", "http11", "exceptions")
REF = types.SimpleNamespace(**{m: getattr(websockets, m) for m in MODULES})
OURS = types.SimpleNamespace(**{m: getattr(picows_like.websockets, m) for m in MODULES})
IMPLS = {"websockets": REF, "picows_like": OURS}

EXAMPLES = int(os.environ.get("PICOWS_LIKE_FUZZ_EXAMPLES", "200"))
diff_settings = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large])


@pytest.fixture(params=list(IMPLS))
def impl(request):
    return IMPLS[request.param]


def outcome(fn, *args, **kwargs):
    """("ok", value) or ("raise", exception type name, str(exception))."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return ("raise", type(exc).__name__, str(exc))


def both(fn):
    """fn(impl) for the reference and for ours, as outcomes, asserted equal."""
    ref, ours = outcome(fn, REF), outcome(fn, OURS)
    assert ref == ours
    return ref


def close_view(close):
    """What a Close shows: code (and whether it is a CloseCode), reason, str()."""
    return (int(close.code), isinstance(close.code, enum.Enum), close.reason, str(close))


# -- frames: constants ----------------------------------------------------------------

def test_frame_constants(impl):
    f = impl.frames
    assert [(o.name, o.value) for o in f.Opcode] == [
        ("CONT", 0), ("TEXT", 1), ("BINARY", 2), ("CLOSE", 8), ("PING", 9), ("PONG", 10)]
    assert tuple(f.DATA_OPCODES) == (f.Opcode.CONT, f.Opcode.TEXT, f.Opcode.BINARY)
    assert tuple(f.CTRL_OPCODES) == (f.Opcode.CLOSE, f.Opcode.PING, f.Opcode.PONG)
    assert [(c.name, c.value) for c in f.CloseCode] == [
        (c.name, c.value) for c in REF.frames.CloseCode]
    assert set(f.OK_CLOSE_CODES) == {1000, 1001, 1005}
    assert dict(f.CLOSE_CODE_EXPLANATIONS) == dict(REF.frames.CLOSE_CODE_EXPLANATIONS)
    assert f.CLOSE_CODE_EXPLANATIONS[1006] == "abnormal closure [internal]"


def test_frame_fields_and_defaults(impl):
    frame = impl.frames.Frame(impl.frames.Opcode.TEXT, b"hi")
    assert (frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (True, False, False, False)
    assert [f.name for f in dataclasses.fields(frame)] == [
        "opcode", "data", "fin", "rsv1", "rsv2", "rsv3"]
    assert frame == impl.frames.Frame(impl.frames.Opcode.TEXT, b"hi", True)


# -- frames: Close ------------------------------------------------------------------

@pytest.mark.parametrize("payload, expected", [
    (b"", ("ok", (1005, True, "", "1005 (no status received [internal])"))),
    (b"\x03\xe8", ("ok", (1000, False, "", "1000 (OK)"))),
    (b"\x03\xe9bye", ("ok", (1001, False, "bye", "1001 (going away) bye"))),
    (b"\x0b\xb8x", ("ok", (3000, False, "x", "3000 (registered) x"))),
    (b"\x13\x87", ("ok", (4999, False, "", "4999 (private use)"))),
    (b"\x03", ("raise", "ProtocolError", "close frame too short")),
    (b"\x03\xed", ("raise", "ProtocolError", "invalid status code")),      # 1005
    (b"\x03\xee", ("raise", "ProtocolError", "invalid status code")),      # 1006
    (b"\x03\xec", ("raise", "ProtocolError", "invalid status code")),      # 1004
    (b"\x03\xf7", ("raise", "ProtocolError", "invalid status code")),      # 1015
    (b"\x0b\xb7", ("raise", "ProtocolError", "invalid status code")),      # 2999
    (b"\x13\x88", ("raise", "ProtocolError", "invalid status code")),      # 5000
    (b"\x03\xe8\xff", ("raise", "UnicodeDecodeError",
                       "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")),
])
def test_close_parse(impl, payload, expected):
    assert outcome(lambda: close_view(impl.frames.Close.parse(payload))) == expected


def test_close_serialize_and_str(impl):
    f = impl.frames
    assert f.Close(1000, "bye").serialize() == b"\x03\xe8bye"
    assert f.Close(f.CloseCode.GOING_AWAY, "é").serialize() == b"\x03\xe9\xc3\xa9"
    with pytest.raises(impl.exceptions.ProtocolError, match="invalid status code"):
        f.Close(1006, "").serialize()
    assert str(f.Close(f.CloseCode.MESSAGE_TOO_BIG, "")) == "1009 (message too big)"
    assert str(f.Close(2500, "r")) == "2500 (unknown) r"
    with pytest.raises(AssertionError):
        f.Close.parse(memoryview(b"\x03\xe8"))


# Every code near a boundary of the rules, plus anything on two bytes.
CLOSE_CODES = st.one_of(st.sampled_from([*range(995, 1020), 2999, 3000, 3999, 4000, 4999, 5000]),
                        st.integers(0, 0xFFFF))
CLOSE_PAYLOADS = st.one_of(
    st.binary(max_size=130),
    st.builds(lambda code, reason: code.to_bytes(2, "big") + reason, CLOSE_CODES,
              st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=10))))


@diff_settings
@given(CLOSE_PAYLOADS)
def test_close_parse_differential(payload):
    both(lambda m: close_view(m.frames.Close.parse(payload)))


@diff_settings
@given(CLOSE_CODES, st.text(max_size=40))
def test_close_round_trip_differential(code, reason):
    wire = both(lambda m: m.frames.Close(code, reason).serialize())
    if wire[0] == "ok":
        for m in (REF, OURS):
            parsed = m.frames.Close.parse(wire[1])
            assert (parsed.code, parsed.reason) == (code, reason)
    both(lambda m: str(m.frames.Close(code, reason)))


# -- frames: Frame ------------------------------------------------------------------

@pytest.mark.parametrize("opcode, data, fin, expected", [
    ("TEXT", b"hello", True, "TEXT 'hello' [5 bytes]"),
    ("TEXT", b"", True, "TEXT '' [0 bytes]"),
    ("TEXT", "caf\u00e9".encode()[:4], False, "TEXT 'caf\ufffd' [4 bytes, continued]"),
    ("BINARY", b"\x00\x01\x02", True, "BINARY 00 01 02 [3 bytes]"),
    ("BINARY", b"text", True, "BINARY 'text' [text, 4 bytes]"),
    ("BINARY", bytes(range(30)), True,
     "BINARY 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ... 16 17 18 19 1a 1b 1c 1d"
     " [30 bytes]"),
    ("TEXT", b"a" * 100, True, "TEXT '" + "a" * 47 + "..." + "a" * 23 + "' [100 bytes]"),
    ("CLOSE", b"\x03\xe8", True, "CLOSE 1000 (OK) [2 bytes]"),
    ("CLOSE", b"\x03", True, "CLOSE 03 [binary, 1 byte]"),
    ("CLOSE", b"", True, "CLOSE '' [0 bytes]"),
    ("PING", b"ping", True, "PING 'ping' [text, 4 bytes]"),
    ("PONG", b"\xff\x00", True, "PONG ff 00 [binary, 2 bytes]"),
    ("PING", b"", True, "PING '' [0 bytes]"),
    ("CONT", b"\xa9 end", True, "CONT '\ufffd end' [text, 5 bytes]"),
])
def test_frame_str(impl, opcode, data, fin, expected):
    frame = impl.frames.Frame(impl.frames.Opcode[opcode], data, fin)
    assert str(frame) == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(rsv1=True), "reserved bits must be 0"),
    (dict(rsv3=True), "reserved bits must be 0"),
    (dict(opcode="PING", data=b"x" * 126), "control frame too long"),
    (dict(opcode="CLOSE", fin=False), "fragmented control frame"),
])
def test_frame_check(impl, kwargs, message):
    kwargs = dict(kwargs)
    opcode = impl.frames.Opcode[kwargs.pop("opcode", "TEXT")]
    frame = impl.frames.Frame(opcode, kwargs.pop("data", b""), **kwargs)
    with pytest.raises(impl.exceptions.ProtocolError) as info:
        frame.check()
    assert str(info.value) == message
    impl.frames.Frame(impl.frames.Opcode.PONG, b"x" * 125).check()


PRINTABLE = st.text(alphabet=st.sampled_from("ab \n\\x\u00e9\u20ac\U0001f600"),
                    max_size=420).map(str.encode)


_E, _EURO, _SMILE = ("\u00e9".encode(), "\u20ac".encode(), "\U0001f600".encode())
HEADS = [b""] + [c[i:] for c in (_E, _EURO, _SMILE) for i in range(1, len(c))]
TAILS = [b""] + [c[:i] for c in (_E, _EURO, _SMILE) for i in range(1, len(c))]


@st.composite
def frame_payloads(draw):
    """Mostly printable UTF-8, starting or ending inside a character (as
    fragments do), sometimes with one byte that isn't printable or UTF-8,
    sometimes long enough for __str__ to look at the ends only."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=400))
    if kind == 1:
        return bytes(draw(st.lists(st.sampled_from([0x80, 0xBF, 0xC3, 0xE2, 0xF0, 0xFF,
                                                    0x41, 0x20]), max_size=40)))
    if kind == 4:
        data = b"ab" * draw(st.integers(100, 170))
    else:
        data = draw(PRINTABLE)
    data = draw(st.sampled_from(HEADS)) + data + draw(st.sampled_from(TAILS))
    if kind >= 3 and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"\x7f", b"\xff", b"\x80"])) + data[at:]
    return data


FRAME_DATA = frame_payloads()
OPCODE_NAMES = st.sampled_from(["CONT", "TEXT", "BINARY", "CLOSE", "PING", "PONG"])
DATA_OPCODE_NAMES = st.sampled_from(["CONT", "TEXT", "BINARY"])


def _frame_str_examples(test):
    """Pinned edges: fragments cut inside a character at either end, payloads
    just around the size where only the ends are examined."""
    for head in HEADS:
        test = example("CONT", head + b"abc", True)(test)
    for tail in TAILS:
        test = example("TEXT", b"abc" + tail, False)(test)
        test = example("BINARY", b"abc" + tail, True)(test)
    for size in (74, 75, 76, 240, 280, 299, 300, 301):
        test = example("TEXT", _SMILE * (size // 4) + b"a" * (size % 4), True)(test)
        test = example("BINARY", b"ab" * (size // 2) + b"\x00", True)(test)
    return test


@diff_settings
@given(st.one_of(DATA_OPCODE_NAMES, OPCODE_NAMES), FRAME_DATA, st.booleans())
@_frame_str_examples
def test_frame_str_differential(opcode, data, fin):
    both(lambda m: str(m.frames.Frame(m.frames.Opcode[opcode], data, fin)))
    both(lambda m: str(m.frames.Frame(m.frames.Opcode[opcode], bytearray(data), fin)))


def _run(gen):
    """Drive a generator-based coroutine fed from a complete buffer."""
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("parser wanted more data")


def _frame_view(frame):
    return (frame.opcode.name, bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2,
            frame.rsv3)


@diff_settings
@given(OPCODE_NAMES, st.binary(max_size=300), st.booleans(), st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(-2, 2), st.integers(0, 300)))
def test_frame_serialize_parse_differential(opcode, data, fin, rsv1, mask, max_size):
    if max_size is not None and max_size <= 2:
        max_size = max(0, len(data) + max_size)     # around the limit
    plain = both(lambda m: m.frames.Frame(m.frames.Opcode[opcode], data, fin,
                                          rsv1).serialize(mask=False))
    for writer in (REF, OURS):
        frame = writer.frames.Frame(writer.frames.Opcode[opcode], data, fin, rsv1)
        wire = outcome(frame.serialize, mask=mask)
        if wire[0] == "raise":
            assert wire == plain
            continue

        def parse(m):
            reader = StreamReader()
            reader.feed_data(wire[1])
            reader.feed_eof()
            return _frame_view(_run(m.frames.Frame.parse(reader.read_exact, mask=mask,
                                                         max_size=max_size)))
        both(parse)


@diff_settings
@given(st.binary(min_size=2, max_size=40), st.booleans())
def test_frame_parse_garbage_differential(wire, mask):
    def parse(m):
        reader = StreamReader()
        reader.feed_data(wire)
        reader.feed_eof()
        return _frame_view(_run(m.frames.Frame.parse(reader.read_exact, mask=mask,
                                                     max_size=20)))
    both(parse)


# -- uri ------------------------------------------------------------------------------

def uri_view(u):
    return (dataclasses.astuple(u), u.resource_name, u.user_info)


@pytest.mark.parametrize("uri, expected", [
    ("ws://localhost/", (False, "localhost", 80, "/", "", None, None)),
    ("wss://Example.COM:8443/a/b?x=1&y", (True, "example.com", 8443, "/a/b", "x=1&y",
                                          None, None)),
    ("ws://user:p%40ss@host", (False, "host", 80, "", "", "user", "p@ss")),
    ("ws://[::1]:9/", (False, "::1", 9, "/", "", None, None)),
    ("ws://h:0/", (False, "h", 80, "/", "", None, None)),
    ("wss://\u00e9xample.com/caf\u00e9?q=\u00e9",
     (True, "xn--xample-9ua.com", 443, "/caf%C3%A9", "q=%C3%A9", None, None)),
])
def test_parse_uri(impl, uri, expected):
    parsed = impl.uri.parse_uri(uri)
    assert dataclasses.astuple(parsed) == expected
    assert parsed.resource_name == (expected[3] or "/") + (
        "?" + expected[4] if expected[4] else "")
    assert parsed.user_info == (None if expected[5] is None else expected[5:])


@pytest.mark.parametrize("uri, message", [
    ("http://localhost/", "http://localhost/ isn't a valid URI: scheme isn't ws or wss"),
    ("localhost", "localhost isn't a valid URI: scheme isn't ws or wss"),
    ("ws:///path", "ws:///path isn't a valid URI: hostname isn't provided"),
    ("ws://h/#frag", "ws://h/#frag isn't a valid URI: fragment identifier is meaningless"),
    ("ws://user@h/", "ws://user@h/ isn't a valid URI: username provided without password"),
])
def test_parse_uri_invalid(impl, uri, message):
    with pytest.raises(impl.exceptions.InvalidURI) as info:
        impl.uri.parse_uri(uri)
    assert str(info.value) == message
    assert (info.value.uri, info.value.args) == (uri, (uri, message.split(": ", 1)[1]))


def test_websocket_uri_record(impl):
    u = impl.uri.WebSocketURI(True, "h", 1, "", "")
    assert (u.username, u.password, u.resource_name, u.user_info) == (None, None, "/", None)


URI_PART = st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits
                                            + "-._~%:@!$&'()*+,;=/?#[] \u00e9\u4e2d"),
                   max_size=12)
URIS = st.builds(
    lambda scheme, user, host, port, path, query, frag:
    f"{scheme}{user}{host}{port}{path}{query}{frag}",
    st.sampled_from(["ws://", "wss://", "ws://", "wss://", "WS://", "http://", "ws:", "",
                     "wss:///"]),
    st.sampled_from(["", "", "u@", "u:p@", "u%41:p%ff@", "%c3%a9:%20@", ":@", "u:@"]),
    st.sampled_from(["h", "Host.Example", "127.0.0.1", "[::1]", "[::1", "", "\u00e9x.com",
                     "xn--e.com", "a..b"]),
    st.sampled_from(["", ":", ":0", ":80", ":65535", ":65536", ":x", ":-1"]),
    st.one_of(st.sampled_from(["", "/", "/a b", "/\u00e9"]), URI_PART),
    st.sampled_from(["", "?", "?a=1", "?\u00e9=%20"]),
    st.sampled_from(["", "", "#", "#f"]))


@diff_settings
@given(URIS)
def test_parse_uri_differential(uri):
    both(lambda m: uri_view(m.uri.parse_uri(uri)))


@diff_settings
@given(st.one_of(st.text(max_size=30), st.builds("ws://{}".format, URI_PART)))
def test_parse_uri_text_differential(uri):
    both(lambda m: uri_view(m.uri.parse_uri(uri)))


# -- datastructures -------------------------------------------------------------------

def test_headers_semantics(impl):
    ds = impl.datastructures
    h = ds.Headers([("X-A", "1"), ("Host", "h")], Other="o")
    h["x-a"] = "2"
    assert h.get_all("X-a") == ["1", "2"] and h.get_all("nope") == []
    with pytest.raises(ds.MultipleValuesError) as info:
        h["X-A"]
    assert str(info.value) == "'X-A'" and isinstance(info.value, LookupError)
    with pytest.raises(KeyError):
        h["missing"]
    assert list(h) == ["x-a", "host", "other"] and len(h) == 3
    assert list(h.raw_items()) == [("X-A", "1"), ("Host", "h"), ("Other", "o"), ("x-a", "2")]
    assert "HOST" in h and 1 not in h
    assert str(h) == "X-A: 1\r\nHost: h\r\nOther: o\r\nx-a: 2\r\n\r\n"
    assert h.serialize() == str(h).encode()
    assert repr(h) == ("Headers([('X-A', '1'), ('Host', 'h'), ('Other', 'o'), "
                       "('x-a', '2')])")
    del h["X-A"]
    assert list(h.raw_items()) == [("Host", "h"), ("Other", "o")]
    assert h == ds.Headers(host="h", OTHER="o") and h != ds.Headers(host="H", other="o")
    assert (h == {"host": "h", "other": "o"}) is False
    h2 = ds.Headers(h)
    h2.update(ds.Headers([("Y", "1"), ("y", "2")]), )
    assert h2.get_all("y") == ["1", "2"]
    h2.clear()
    assert len(h2) == 0 and list(h2.raw_items()) == [] and str(h2) == "\r\n"
    with pytest.raises(TypeError):
        hash(h)


def test_headers_value_check(impl):
    h = impl.datastructures.Headers()
    with pytest.raises(impl.exceptions.InvalidHeaderValue) as info:
        h["X"] = "a\r\nInjected: 1"
    assert str(info.value) == "invalid X header: a\r\nInjected: 1"
    assert len(h) == 0
    h["Latin"] = "caf\u00e9"
    assert h.serialize() == b"Latin: caf\xe9\r\n\r\n"


def test_headers_copy_is_independent():
    """websockets' copy() shares the value lists with the original, so adding to
    the copy shows in the original's get_all(); ours keeps the two apart."""
    h = OURS.datastructures.Headers([("A", "1")])
    c = h.copy()
    c["A"] = "2"
    assert h.get_all("a") == ["1"] and c.get_all("a") == ["1", "2"]
    assert list(h.raw_items()) == [("A", "1")]


HEADER_NAMES = st.sampled_from(["Host", "host", "HOST", "X-A", "x-a", "Cookie", "Y"])
HEADER_VALUES = st.one_of(st.sampled_from(["", "v", "a, b", " sp ", "caf\u00e9", "x\r\ny",
                                           "\t", "\x7f", "\u20ac"]),
                          st.text(max_size=6), st.integers(0, 9))
HEADER_OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), HEADER_NAMES, HEADER_VALUES),
    st.tuples(st.sampled_from(["get", "getitem", "get_all", "contains", "del", "pop",
                               "setdefault_same"]), HEADER_NAMES),
    st.tuples(st.sampled_from(["len", "iter", "keys", "values", "items", "raw_items",
                               "str", "repr", "serialize", "copy", "clear", "popitem",
                               "bool"])),
    st.tuples(st.just("update_pairs"), st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES),
                                                max_size=3)),
    st.tuples(st.just("update_dict"), st.dictionaries(HEADER_NAMES, HEADER_VALUES,
                                                      max_size=3)),
    st.tuples(st.just("eq_rebuilt")),
), max_size=25)


def _apply(m, headers, op):
    """One operation; returns (new headers object, observable result)."""
    kind, args = op[0], op[1:]
    Headers = m.datastructures.Headers
    if kind == "set":
        headers[args[0]] = args[1]
        return headers, None
    if kind == "get":
        return headers, headers.get(args[0], "default")
    if kind == "getitem":
        return headers, headers[args[0]]
    if kind == "get_all":
        return headers, list(headers.get_all(args[0]))
    if kind == "contains":
        return headers, args[0] in headers
    if kind == "del":
        del headers[args[0]]
        return headers, None
    if kind == "pop":
        return headers, headers.pop(args[0])
    if kind == "setdefault_same":
        return headers, headers.setdefault(args[0], "d")
    if kind in ("len", "bool", "str", "repr"):
        return headers, {"len": len, "bool": bool, "str": str, "repr": repr}[kind](headers)
    if kind in ("iter", "keys", "values", "items", "raw_items"):
        source = iter(headers) if kind == "iter" else getattr(headers, kind)()
        return headers, list(source)
    if kind == "serialize":
        return headers, headers.serialize()
    if kind == "copy":
        return headers.copy(), None
    if kind == "clear":
        headers.clear()
        return headers, None
    if kind == "popitem":
        return headers, headers.popitem()
    if kind == "update_pairs":
        headers.update(args[0])
        return headers, None
    if kind == "update_dict":
        headers.update(dict(args[0]))
        return headers, None
    if kind == "eq_rebuilt":
        rebuilt = Headers(list(headers.raw_items()))
        return headers, (headers == rebuilt, headers != Headers(), headers == [])
    raise AssertionError(kind)


@diff_settings
@given(st.lists(st.tuples(HEADER_NAMES, st.sampled_from(["1", "2", ""])), max_size=4),
       HEADER_OPS)
def test_headers_model_differential(initial, ops):
    """The same random operation sequence on both Headers: every result, every
    exception and the final pairs agree."""
    state = [m.datastructures.Headers(initial) for m in (REF, OURS)]
    for op in ops:
        results = []
        for i, m in enumerate((REF, OURS)):
            try:
                state[i], value = _apply(m, state[i], op)
                results.append(("ok", value))
            except Exception as exc:  # noqa: BLE001
                results.append(("raise", type(exc).__name__, str(exc)))
        assert results[0] == results[1], op
    assert list(state[0].raw_items()) == list(state[1].raw_items())


# -- http11 ---------------------------------------------------------------------------

def test_request_record(impl):
    h = impl.http11
    headers = impl.datastructures.Headers([("Host", "h"), ("Upgrade", "websocket")])
    req = h.Request("/p?q", headers)
    assert (req.path, req.method, req.protocol, req._exception) == (
        "/p?q", "GET", "HTTP/1.1", None)
    assert req.serialize() == b"GET /p?q HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"
    with pytest.raises(UnicodeEncodeError):
        h.Request("/\u00e9", headers).serialize()
    with pytest.warns(DeprecationWarning):
        assert req.exception is None


def test_response_record(impl):
    h = impl.http11
    resp = h.Response(404, "Not Found", impl.datastructures.Headers([("X", "y")]), b"nope")
    assert resp.serialize() == b"HTTP/1.1 404 Not Found\r\nX: y\r\n\r\nnope"
    empty = h.Response(101, "Switching Protocols", impl.datastructures.Headers())
    assert (empty.body, empty._exception) == (b"", None)
    assert empty.serialize() == b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    assert h.Response(200, "\u00e9", impl.datastructures.Headers()).serialize() == (
        b"HTTP/1.1 200 \xe9\r\n\r\n")


def _parse_http(m, kind, data, eof=True):
    reader = StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    if kind == "request":
        gen = m.http11.Request.parse(reader.read_line)
    else:
        gen = m.http11.Response.parse(reader.read_line, reader.read_exact,
                                      reader.read_to_eof, proxy=(kind == "proxy"))
    try:
        next(gen)
    except StopIteration as stop:
        msg = stop.value
    else:
        return "incomplete"
    if kind == "request":
        return (msg.method, msg.path, msg.protocol, list(msg.headers.raw_items()),
                msg.serialize())
    return (msg.status_code, msg.reason_phrase, list(msg.headers.raw_items()),
            bytes(msg.body), msg.serialize())


@pytest.mark.parametrize("kind, data, expected", [
    ("request", b"GET /chat HTTP/1.1\r\nHost: h\r\nX:  v \r\n\r\n",
     ("ok", ("GET", "/chat", "HTTP/1.1", [("Host", "h"), ("X", "v")],
             b"GET /chat HTTP/1.1\r\nHost: h\r\nX: v\r\n\r\n"))),
    ("request", b"GET / HTTP/2\r\n\r\n",
     ("raise", "ValueError",
      "unsupported protocol; expected HTTP/1.1 or HTTP/1.0: GET / HTTP/2")),
    ("request", b"GET /\r\n\r\n", ("raise", "ValueError", "invalid HTTP request line: GET /")),
    ("request", b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
     ("raise", "ValueError", "invalid HTTP header name: Bad Name")),
    ("request", b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
     ("raise", "ValueError", "unsupported request body")),
    ("request", b"GET / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n",
     ("ok", ("GET", "/", "HTTP/1.1", [("Content-Length", "0"), ("content-length", "0")],
             b"GET / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n"))),
    ("request", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
     ("raise", "NotImplementedError", "transfer codings aren't supported")),
    ("request", b"GET / HTTP/1.1\r\nHost: h\r\n",
     ("raise", "EOFError", "connection closed while reading HTTP headers")),
    ("response", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
     ("ok", (101, "Switching Protocols", [("Upgrade", "websocket")], b"",
             b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))),
    ("response", b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
     ("ok", (404, "Not Found", [("Content-Length", "2")], b"no",
             b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"))),
    ("response", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
     ("ok", (200, "OK", [("Transfer-Encoding", "chunked")], b"ab",
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nab"))),
    ("response", b"HTTP/1.1 99 Low\r\n\r\n",
     ("raise", "ValueError", "invalid status code; expected 100\u2013599; got 99")),
    ("response", b"HTTP/1.0 200 OK\r\n\r\n",
     ("raise", "ValueError", "unsupported protocol; expected HTTP/1.1: HTTP/1.0 200 OK")),
    ("proxy", b"HTTP/1.0 200 OK\r\n\r\nignored",
     ("ok", (200, "OK", [], b"", b"HTTP/1.1 200 OK\r\n\r\n"))),
    ("response", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
     ("raise", "SecurityError", "invalid content length: x")),
])
def test_http_parse(impl, kind, data, expected):
    assert outcome(_parse_http, impl, kind, data) == expected


HTTP_LINES = st.sampled_from([
    b"Host: h", b"host:h", b"X-Multi: 1", b"x-multi: 2", b"Content-Length: 0",
    b"Content-Length: 0\r\ncontent-length: 0", b"Content-Length: 0\r\nContent-Length: 1",
    b"Content-Length: 4", b"Content-Length: 99999999", b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip", b"Bad Header: x", b"NoColon", b"X: \x00", b"X: caf\xe9",
    b"Empty:", b":nameless", b"Tab:\tv\t", b"Sp: \t v \t ", b"X: a\x7f"])
REQUEST_LINES = [b"GET / HTTP/1.1\r\n", b"GET /\xc3\xa9 HTTP/1.1\r\n", b"POST /x HTTP/1.0\r\n",
                 b"GET HTTP/1.1\r\n", b"GET / HTTP/1.1\n", b"GET  / HTTP/1.1\r\n"]
STATUS_LINES = [b"HTTP/1.1 101 Switching Protocols\r\n", b"HTTP/1.1 404 \xe9\r\n",
                b"HTTP/1.1 204 No Content\r\n", b"HTTP/1.1 304 Not Modified\r\n",
                b"HTTP/1.1 1000 X\r\n", b"HTTP/1.1 abc X\r\n", b"HTTP/1.0 200 OK\r\n",
                b"HTTP/1.1 200\r\n", b"HTTP/1.1 500 Oops\n", b"HTTP/1.1 199 Early\r\n",
                b"HTTP/1.1 600 Big\r\n", b"HTTP/1.1 200 a\x00b\r\n"]
HTTP_TAILS = st.sampled_from([b"\r\n", b"\r\nbody", b"\r\n4\r\nbody\r\n0\r\n\r\n", b"",
                              b"\n", b"\r\nzz\r\n", b"\r\n4;ext\r\nbodyXX0\r\n\r\n"])


GOOD_LINES = st.sampled_from([
    b"Host: h", b"X-Multi: 1", b"x-multi: 2", b"Content-Length: 0", b"Content-Length: 4",
    b"Content-Length: 0\r\ncontent-length: 0", b"Transfer-Encoding: chunked", b"Tab:\tv\t"])


def http_heads(kind):
    first = st.sampled_from(REQUEST_LINES if kind == "request" else STATUS_LINES)
    return st.builds(
        lambda first, lines, tail: first + b"".join(line + b"\r\n" for line in lines) + tail,
        first, st.lists(st.one_of(GOOD_LINES, HTTP_LINES), max_size=5), HTTP_TAILS)


HTTP_CASES = st.sampled_from(["request", "response", "proxy"]).flatmap(
    lambda kind: st.tuples(st.just(kind), http_heads(kind)))


@diff_settings
@given(HTTP_CASES, st.booleans())
@example(("response", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nbody"), True)
@example(("response", b"HTTP/1.1 204 No Content\r\n\r\nbody"), True)
@example(("response", b"HTTP/1.1 199 Early\r\n\r\nbody"), True)
@example(("request", b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"), True)
def test_http_parse_differential(case, eof):
    kind, data = case
    both(lambda m: _parse_http(m, kind, data, eof))


# -- exceptions -----------------------------------------------------------------------

def _response(m):
    return m.http11.Response(403, "Forbidden", m.datastructures.Headers())


EXCEPTION_CASES = [
    ("ConnectionClosed", lambda m: (None, None)),
    ("ConnectionClosedOK", lambda m: (m.frames.Close(1000, ""), m.frames.Close(1000, "ok"),
                                      True)),
    ("ConnectionClosedError", lambda m: (m.frames.Close(1011, "boom"), None)),
    ("ConnectionClosedError", lambda m: (None, m.frames.Close(1002, "bad"))),
    ("ConnectionClosedError", lambda m: (m.frames.Close(1000, ""), m.frames.Close(4000, "x"),
                                         False)),
    ("InvalidURI", lambda m: ("http://x", "scheme isn't ws or wss")),
    ("InvalidProxy", lambda m: ("ftp://p", "scheme isn't http")),
    ("InvalidHandshake", lambda m: ("nope",)),
    ("SecurityError", lambda m: ("too many redirects",)),
    ("RequestLineTooLong", lambda m: ("line",)),
    ("StatusLineTooLong", lambda m: ("line",)),
    ("HeaderLineTooLong", lambda m: ("line",)),
    ("TooManyHeaders", lambda m: ("many",)),
    ("ProxyError", lambda m: ("proxy",)),
    ("InvalidProxyMessage", lambda m: ("bad",)),
    ("InvalidProxyStatus", lambda m: (_response(m),)),
    ("InvalidMessage", lambda m: ("did not receive a valid HTTP response",)),
    ("InvalidMethod", lambda m: ("POST",)),
    ("InvalidProtocol", lambda m: ("HTTP/1.0",)),
    ("InvalidStatus", lambda m: (_response(m),)),
    ("InvalidHeader", lambda m: ("Upgrade",)),
    ("InvalidHeader", lambda m: ("Upgrade", "")),
    ("InvalidHeader", lambda m: ("Upgrade", "h2c")),
    ("InvalidHeaderFormat", lambda m: ("Sec-WebSocket-Protocol", "expected token", "a b", 1)),
    ("InvalidHeaderValue", lambda m: ("Connection", "close")),
    ("InvalidOrigin", lambda m: (None,)),
    ("InvalidOrigin", lambda m: ("https://evil",)),
    ("InvalidUpgrade", lambda m: ("Connection", "close")),
    ("NegotiationError", lambda m: ("no subprotocols supported",)),
    ("DuplicateParameter", lambda m: ("client_max_window_bits",)),
    ("InvalidParameterName", lambda m: ("x",)),
    ("InvalidParameterValue", lambda m: ("server_max_window_bits", None)),
    ("InvalidParameterValue", lambda m: ("server_max_window_bits", "")),
    ("InvalidParameterValue", lambda m: ("server_max_window_bits", "42")),
    ("ProtocolError", lambda m: ("invalid opcode",)),
    ("PayloadTooBig", lambda m: (10, 5)),
    ("PayloadTooBig", lambda m: (None, 5, 7)),
    ("TooManyFragments", lambda m: (3,)),
    ("InvalidState", lambda m: ("cannot write to a WebSocket in the CLOSED state",)),
    ("ConcurrencyError", lambda m: ("cannot call recv while another coroutine is waiting",)),
]


def _exception_view(m, name, make_args):
    cls = getattr(m.exceptions, name)
    args = make_args(m)
    exc = cls(*args)
    attributes = {key: (str(value) if value is not None else None)
                  for key, value in vars(exc).items()}
    # The base classes, named; builtins by name too.
    bases = [base.__name__ for base in cls.__mro__]
    shown_args = tuple(a if isinstance(a, (str, int, type(None))) else type(a).__name__
                       for a in exc.args)
    return str(exc), shown_args, attributes, bases


@pytest.mark.parametrize("name, make_args", EXCEPTION_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXCEPTION_CASES)])
def test_exception_differential(name, make_args):
    both(lambda m: _exception_view(m, name, make_args))


def test_exception_names(impl):
    assert set(REF.exceptions.__all__) <= set(dir(impl.exceptions))
    assert str(impl.exceptions.ConnectionClosed(None, None)) == "no close frame received or sent"
    with pytest.raises(AssertionError):
        impl.exceptions.ConnectionClosed(None, None, True)
    closed = impl.exceptions.ConnectionClosedError(None, None)
    with pytest.warns(DeprecationWarning):
        assert closed.code == 1006
    with pytest.warns(DeprecationWarning):
        assert closed.reason == ""
    exc = impl.exceptions.PayloadTooBig(None, 10)
    exc.set_current_size(90)
    assert str(exc) == "frame after reading 90 bytes exceeds limit of 100 bytes"
    with pytest.warns(DeprecationWarning):
        assert str(impl.exceptions.PayloadTooBig("custom")) == "custom"


# -- Headers given to connect() --------------------------------------------------------

@pytest.mark.parametrize("client", ["websockets", "picows_like"])
async def test_connect_additional_headers_as_headers(client):
    """additional_headers=Headers(...) sends every pair with its name as
    written, repeats included (the client's own Headers class)."""
    import asyncio

    import websockets.asyncio.server

    from helpers import wf

    lib = websockets if client == "websockets" else picows_like.websockets
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result([(k, v) for k, v in ws.request.headers.raw_items()
                         if k.lower() in ("x-multi", "x-case")])
        await ws.wait_closed()

    extra = lib.Headers([("X-Multi", "1"), ("x-multi", "2"), ("X-Case", "v")])
    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with lib.connect(f"ws://127.0.0.1:{port}", additional_headers=extra):
            assert await wf(seen) == [("X-Multi", "1"), ("x-multi", "2"), ("X-Case", "v")]
