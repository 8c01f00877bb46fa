"""Zero-copy from Cython, the examples, and the typed public API.

* A user's Cython module (tests/cython_echo/) is compiled in a temporary
  directory against the *installed* picows_like, the way a user builds one:
  the venv's Cython + setuptools through ``python setup.py build_ext
  --inplace`` in a subprocess, no include_dirs (Cython finds the .pxd files on
  sys.path; the generated C includes no picows_like header).  Its ``cdef
  class`` listener overrides ``cpdef on_ws_frame``, reads
  ``frame.payload_ptr`` / ``payload_size`` and echoes from a C buffer with
  ``send_reuse_external_buffer``.  Raw-socket peers drive it on both sides and
  every frame on the wire is checked byte for byte (masked ones after
  unmasking with the key the client chose).
* The payload slack: a frame that ends exactly at the end of the read buffer
  (``read_buffer_init_size=256`` and a 256-byte frame; then a frame the buffer
  grows to fit exactly) is over-read by WS_PAYLOAD_SLACK bytes from Cython.
  In a normal build this only proves the read does not crash;
  PICOWS_LIKE_TEST_ASAN=1 adds test_payload_slack_under_asan, which builds
  picows_like and the module with -fsanitize=address (about 2 minutes cold,
  then cached), runs the probe under LD_PRELOAD=libasan and checks that the
  WS_PAYLOAD_SLACK bytes are clean and that one byte more is reported as a
  heap-buffer-overflow.
* examples/cython_echo_client is built with its own setup.py and run;
  examples/send_reuse_external_bytearray.py is run.
* ``mypy --strict`` on examples/ and tests/typed_api_usage.py (which uses
  every public name), and stubtest of the .pyi stubs against the compiled
  modules (both skipped when mypy is not installed; it is a test dependency).

Builds are cached by a digest of everything they depend on (sources,
picows_like's .pxd and .h files, Cython and Python versions, CC/CFLAGS) in
pytest's cache directory (.pytest_cache/d/picows_like_cython_builds), so only
the first run compiles (8-13 s per module on this machine).  PICOWS_LIKE_CYTHON_REBUILD=1 forces fresh builds.  The Cython tests
are skipped, with the reason, only when no C compiler is found.
"""
import ast
import asyncio
import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

import picows_like
from helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawConn,
                     RawFrame, RawServer, apply_mask, build_frame, close_payload,
                     make_payload, wf, ws_server)

# As in conftest.py: the suite may run against the reference picows.
AGAINST_PICOWS = os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1"

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
CYTHON_ECHO_DIR = TESTS_DIR / "cython_echo"
EXAMPLES_DIR = REPO_ROOT / "examples"
EXAMPLE_CLIENT_DIR = EXAMPLES_DIR / "cython_echo_client"
TYPED_USAGE = TESTS_DIR / "typed_api_usage.py"

BUILD_TIMEOUT = 300          # hard limit for one build subprocess (seconds)
BUILD_BUDGET = 60            # a cold build must take less than this
REBUILD = os.environ.get("PICOWS_LIKE_CYTHON_REBUILD", "") not in ("", "0")
_BUILD_IGNORE = shutil.ignore_patterns("build", "*.so", "*.pyd", "*.c", "*.html",
                                       "__pycache__", "*.egg-info")

needs_own_package = pytest.mark.skipif(
    AGAINST_PICOWS, reason="compiles against picows_like's own .pxd files")


# -----------------------------------------------------------------------------
# Building user extensions
# -----------------------------------------------------------------------------

def find_c_compiler() -> Optional[str]:
    """The C compiler setuptools would use, or None when there is none."""
    if sys.platform == "win32":
        try:
            from setuptools import msvc  # noqa: F401
            from setuptools._distutils import _msvccompiler
            return "msvc" if _msvccompiler._find_vcvarsall("x64")[0] else None
        except Exception:
            return None
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        exe = shlex.split(cc)[0]
    except (ValueError, IndexError):
        return None
    return shutil.which(exe)


def _package_dir() -> Path:
    return Path(picows_like.__file__).resolve().parent


def build_digest(src_dir: Path) -> str:
    import Cython
    h = hashlib.sha256()
    pkg = _package_dir()
    files = sorted(p for p in src_dir.iterdir()
                   if p.is_file() and p.suffix in (".pyx", ".pxd", ".py", ".pxi", ".h"))
    files += sorted(pkg.glob("*.pxd")) + sorted((pkg / "includes").glob("*.h"))
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in (Cython.__version__, sys.version, platform.platform(), str(pkg),
                 os.environ.get("CC", ""), os.environ.get("CFLAGS", ""),
                 sysconfig.get_config_var("CC") or ""):
        h.update(item.encode() + b"\0")
    return h.hexdigest()[:20]


@dataclass
class Built:
    name: str
    path: Path               # a directory with the built module next to its sources
    seconds: float           # how long the (cold) build took
    cached: bool


def build_extension(src_dir: Path, name: str, cache_root: Path) -> Built:
    """Copy src_dir to a temporary directory, run its setup.py there with
    this interpreter (build_ext --inplace) and keep the result in cache_root."""
    digest = build_digest(src_dir)
    target = cache_root / f"{name}-{digest}"
    marker = target / ".built"
    if marker.exists() and not REBUILD:
        return Built(name, target, float(marker.read_text() or 0), True)
    with tempfile.TemporaryDirectory(prefix=f"picows_like-{name}-") as tmp:
        work = Path(tmp) / name
        shutil.copytree(src_dir, work, ignore=_BUILD_IGNORE)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                              cwd=work, env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT)
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            pytest.fail(f"building {name} failed ({seconds:.1f} s):\n"
                        f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}", pytrace=False)
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        assert (work / f"{name}{suffix}").exists(), sorted(os.listdir(work))
        staging = cache_root / f".{name}-{digest}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(work, staging, ignore=shutil.ignore_patterns("build"))
        (staging / ".built").write_text(f"{seconds:.2f}")
        (staging / "build.log").write_text(proc.stdout + proc.stderr)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    _prune(cache_root, name, keep=target)
    return Built(name, target, seconds, False)


def _prune(cache_root: Path, name: str, keep: Path) -> None:
    """Drop stale builds of `name` (their inputs changed since)."""
    for old in cache_root.glob(f"{name}-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def load_extension(name: str, directory: Path) -> types.ModuleType:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}{suffix}")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


@pytest.fixture(scope="session")
def cython_build_root(pytestconfig, tmp_path_factory):
    if AGAINST_PICOWS:
        pytest.skip("compiles against picows_like's own .pxd files")
    if find_c_compiler() is None:
        pytest.skip("no C compiler found (CC / sysconfig CC is not on PATH): "
                    "cannot compile a Cython module against picows_like")
    # The package a plain subprocess of this interpreter imports (the
    # "installed" one) must be the one under test, or the compiled module
    # would be built against other .pxd files.
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", "import os, picows_like; "
             "print(os.path.dirname(os.path.realpath(picows_like.__file__)))"],
            cwd=tmp, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"picows_like is not installed for {sys.executable}:\n" \
        f"{out.stderr}"
    assert Path(out.stdout.strip()) == _package_dir(), out.stdout
    cache = getattr(pytestconfig, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("picows_like_cython_builds"))
    return tmp_path_factory.mktemp("picows_like_cython_builds")


@pytest.fixture(scope="session")
def cython_echo(cython_build_root):
    built = build_extension(CYTHON_ECHO_DIR, "cython_echo", cython_build_root)
    module = load_extension("cython_echo", built.path)
    module.BUILT = built
    return module


@pytest.fixture(scope="session")
def example_client_build(cython_build_root):
    return build_extension(EXAMPLE_CLIENT_DIR, "echo_client", cython_build_root)


# -----------------------------------------------------------------------------
# The compiled module itself
# -----------------------------------------------------------------------------

@needs_own_package
def test_user_module_build_time(cython_echo):
    built = cython_echo.BUILT
    assert built.seconds < BUILD_BUDGET, \
        f"building the Cython test module took {built.seconds:.1f} s"


@needs_own_package
def test_user_module_needs_no_headers_from_picows_like(cython_echo):
    built = cython_echo.BUILT
    # The generated C includes only Python's own headers and <system> ones:
    # nothing from picows_like/includes, nothing a third-party -dev package
    # provides (e.g. zlib.h: an internal unit's `cdef extern` reachable from
    # __init__.pxd would leak it into every user's build).
    c_source = (built.path / "cython_echo.c").read_text()
    python_include = Path(sysconfig.get_paths()["include"])
    foreign = []
    for line in c_source.splitlines():
        line = line.strip()
        if line.startswith("#include") and '"' in line:
            header = line.split('"')[1]
            # Cython includes CPython's internal headers under version checks
            # (internal/pycore_frame.h exists from 3.11 on): they are Python's own.
            if header.startswith("internal/pycore_"):
                continue
            if not (python_include / header).exists():
                foreign.append(header)
    assert not foreign, f"the user's module needs headers from outside Python: {foreign}"
    # No include_dirs in the user's setup.py: only Python's own headers are used.
    assert "include_dirs=" not in (CYTHON_ECHO_DIR / "setup.py").read_text()
    assert "include_dirs=" not in (EXAMPLE_CLIENT_DIR / "setup.py").read_text()


@needs_own_package
def test_documented_constants(cython_echo):
    # Compiled into the user's module from picows_like/__init__.pxd.
    assert cython_echo.PAYLOAD_SLACK == 64
    assert cython_echo.PAYLOAD_SLACK == cython_echo.READ_BUFFER_SLACK
    assert cython_echo.SEND_HEADROOM == 14


@needs_own_package
def test_cpdef_override_is_dispatched_through_the_vtable(cython_echo):
    listener = cython_echo.EchoListener()
    assert isinstance(listener, picows_like.WSListener)
    # The protocol calls a listener through a cached bound method only when
    # its on_ws_frame is a Python function; a cpdef override is not one.
    assert not isinstance(type(listener).on_ws_frame, types.FunctionType)


@needs_own_package
def test_msg_type_is_a_c_field(cython_echo):
    """`frame.msg_type` in a user's Cython code should be a C field read (as in
    picows), not a Python attribute lookup plus an enum conversion."""
    c_source = (cython_echo.BUILT.path / "cython_echo.c").read_text()
    assert not re.search(r"GetAttrStr\(\(\(PyObject \*\)__pyx_v_frame\), [^;]*__pyx_n_u_msg_type\)",
                         c_source), ("frame.msg_type is read by a Python attribute lookup from "
                                     "Cython: _frame.pxd must declare `cdef WSMsgType msg_type` "
                                     "(as picows does)")


# -----------------------------------------------------------------------------
# Raw-socket peers
# -----------------------------------------------------------------------------

class Peer:
    """The raw side of a connection to a picows_like endpoint running the
    Cython listener.  ``is_client``: the raw peer is the client (masks)."""

    def __init__(self, conn: RawConn, is_client: bool):
        self.conn = conn
        self.is_client = is_client

    def frame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
        return build_frame(opcode, payload, fin=fin, rsv=rsv,
                           mask=True if self.is_client else None)

    async def send(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0):
        await self.conn.send(self.frame(opcode, payload, fin, rsv))

    async def read(self, timeout: float = 5.0) -> RawFrame:
        return await self.conn.read_frame(timeout)

    async def expect(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
                     timeout: float = 5.0) -> RawFrame:
        """Read one frame and check its exact bytes on the wire."""
        rf = await self.read(timeout)
        check_wire(rf, opcode, payload, fin, rsv, masked=not self.is_client)
        return rf


def check_wire(rf: RawFrame, opcode: int, payload: bytes, fin: bool, rsv: int, masked: bool):
    """A frame from picows_like: a server's exactly as build_frame writes it
    (minimal length encoding, no mask); a client's masked with a key it chose,
    so rebuild the expected bytes with that key and compare them all."""
    what = f"opcode {opcode:#x}, {len(payload)} bytes, fin={fin}, rsv={rsv}"
    assert (rf.opcode, rf.fin, rf.rsv, rf.masked) == (opcode, fin, rsv, masked), \
        f"{what}: got {rf}"[:500]
    if masked:
        wire = rf.header + apply_mask(rf.payload, rf.mask)
        expected = build_frame(opcode, payload, fin=fin, rsv=rsv, mask=rf.mask)
    else:
        wire = rf.header + rf.payload
        expected = build_frame(opcode, payload, fin=fin, rsv=rsv)
    assert rf.payload == payload, f"{what}: payload differs"
    assert wire == expected, f"{what}: header {rf.header.hex()} != {expected[:14].hex()}"


@contextlib.asynccontextmanager
async def cython_endpoint(module, side: str, *, probe_slack: bool = False, **kwargs):
    """picows_like on `side` ("server" or "client") with module.EchoListener,
    connected to a raw peer.  Yields (peer, listener, transport)."""
    loop = asyncio.get_running_loop()

    def make_listener():
        listener = module.EchoListener(probe_slack)
        listener.disconnected = loop.create_future()
        return listener

    if side == "server":
        async with ws_server(lambda request: make_listener(), **kwargs) as srv:
            conn = await RawConn.open(srv.port)
            try:
                await conn.client_handshake()
                listener = await srv.next_listener()
                yield Peer(conn, is_client=True), listener, None
            finally:
                conn.abort()
    else:
        async with RawServer() as raw:
            conn, transport, listener = await raw.accept_ws_client(make_listener, **kwargs)
            try:
                yield Peer(conn, is_client=False), listener, transport
            finally:
                transport.disconnect(False)
                with contextlib.suppress(Exception):
                    await wf(transport.wait_disconnected(), 1)


async def until(predicate, timeout: float = 3.0, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


SIDES = ["server", "client"]

ECHO_CASES = [
    # (opcode, payload, fin, rsv)
    (OP_BINARY, b"", True, 0),
    (OP_TEXT, b"x", True, 0),
    (OP_BINARY, make_payload(125), True, 0),
    (OP_BINARY, make_payload(126), True, 0),
    (OP_TEXT, make_payload(1000, text=True), True, 0),
    (OP_BINARY, make_payload(65535), True, 0),
    (OP_BINARY, make_payload(65536), True, 0),
    (OP_BINARY, make_payload(200_000), True, 0),
    (OP_TEXT, b"frag-1/", False, 0),
    (OP_CONT, b"frag-2/", False, 0),
    (OP_CONT, b"frag-3", True, 0),
    (OP_BINARY, b"rsv1", True, 4),
    (OP_BINARY, b"rsv2", True, 2),
    (OP_BINARY, b"rsv3", True, 1),
]


# -----------------------------------------------------------------------------
# Echo through send_reuse_external_buffer, checked on the wire
# -----------------------------------------------------------------------------

@needs_own_package
@pytest.mark.asyncio
@pytest.mark.parametrize("side", SIDES)
async def test_cython_echo_on_the_wire(cython_echo, side):
    async with cython_endpoint(cython_echo, side, accept_rsv_bits=True) as (peer, lst, _):
        assert lst.connected_calls == 1
        # One at a time...
        for opcode, payload, fin, rsv in ECHO_CASES:
            await peer.send(opcode, payload, fin, rsv)
            await peer.expect(opcode, payload, fin, rsv)
        # ...then all in one write: many frames per read, with a tail.
        peer.conn.write(b"".join(peer.frame(*case) for case in ECHO_CASES))
        await peer.conn.drain()
        for case in ECHO_CASES:
            await peer.expect(*case)
        assert lst.echoed_frames == 2 * len(ECHO_CASES)
        assert lst.echoed_bytes == 2 * sum(len(c[1]) for c in ECHO_CASES)
        if side == "client":
            # Documented: the client masks the caller's buffer in place.
            assert lst.masked_in_place

        # The peer closes: on_ws_frame sees the CLOSE, the library answers it.
        await peer.send(OP_CLOSE, close_payload(1000, b"done"))
        await peer.expect(OP_CLOSE, close_payload(1000))
        await peer.conn.expect_eof()
        assert await wf(lst.disconnected) is True
        assert lst.close_codes == [1000]
        assert (lst.connected_calls, lst.disconnected_calls) == (1, 1)


@needs_own_package
@pytest.mark.asyncio
@pytest.mark.parametrize("side", SIDES)
async def test_cython_surface_commands(cython_echo, side):
    """The rest of the cimport surface, called from Cython (vtable calls)."""
    async with cython_endpoint(cython_echo, side) as (peer, lst, _):
        async def command(name: str):
            await peer.send(OP_TEXT, b"!cmd:" + name.encode())

        await command("info")
        info = (await peer.read()).payload.decode().split(",")
        is_client = "1" if side == "client" else "0"
        assert info == [is_client, "0", "0", "0", "True", "True", "True", "True",
                        "9", "0", "1", "1", "0", "0", "0", "1",
                        "True", "True", "True", "True", "3", "1000"], info

        await command("send")
        await peer.expect(OP_TEXT, b"via-send")
        await command("bytearray")
        await peer.expect(OP_BINARY, b"via-bytearray")
        await command("fragments")
        await peer.expect(OP_TEXT, b"ab", fin=False)
        await peer.expect(OP_CONT, b"cd", fin=False)
        await peer.expect(OP_CONT, b"ef", fin=True)
        await command("ping")
        await peer.expect(OP_PING, b"p1")
        await command("pong")
        await peer.expect(OP_PONG, b"q1")
        await command("notify")
        await peer.expect(OP_TEXT, b"notified")
        # The library answers PINGs itself (auto pong): not echoed by on_ws_frame.
        await peer.send(OP_PING, b"hi")
        await peer.expect(OP_PONG, b"hi")

        # Our side closes first (1001, b"bye"); the peer answers.
        await command("close")
        await peer.expect(OP_CLOSE, close_payload(1001, b"bye"))
        await peer.send(OP_CLOSE, close_payload(1001))
        await peer.conn.expect_eof()
        assert await wf(lst.disconnected) is True
        assert lst.close_codes == [1001]
        assert lst.echoed_frames == 0


@needs_own_package
@pytest.mark.asyncio
async def test_cython_user_specific_ping_and_pong(cython_echo):
    """Auto-ping calls the cpdef send_user_specific_ping / is_user_specific_pong
    overrides."""
    async with cython_endpoint(cython_echo, "server", enable_auto_ping=True,
                               auto_ping_idle_timeout=0.05,
                               auto_ping_reply_timeout=2) as (peer, lst, _):
        await peer.expect(OP_PING, b"user-ping")
        await peer.send(OP_PONG, b"user-ping")      # consumed: is_user_specific_pong
        await peer.send(OP_BINARY, b"still alive")
        await peer.expect(OP_BINARY, b"still alive")
        assert lst.echoed_frames == 1


@needs_own_package
@pytest.mark.asyncio
@pytest.mark.parametrize("side", SIDES)
async def test_cython_disconnect(cython_echo, side):
    async with cython_endpoint(cython_echo, side) as (peer, lst, _):
        await peer.send(OP_TEXT, b"!cmd:disconnect")
        await peer.conn.expect_eof()
        assert await wf(lst.disconnected) is True
        assert (lst.connected_calls, lst.disconnected_calls) == (1, 1)
        assert lst.close_codes == []


# -----------------------------------------------------------------------------
# Readable slack after payload_ptr, at the very end of the read buffer
# -----------------------------------------------------------------------------

@needs_own_package
@pytest.mark.asyncio
@pytest.mark.parametrize("side", SIDES)
async def test_payload_slack_at_end_of_read_buffer(cython_echo, side):
    init_size = 256          # the smallest read buffer picows_like allows
    async with cython_endpoint(cython_echo, side, probe_slack=True,
                               read_buffer_init_size=init_size) as (peer, lst, _):
        header = 8 if peer.is_client else 4      # 16-bit length (+ mask from a client)
        # 1) A frame of exactly init_size bytes: it fills the buffer, so its
        #    payload ends at the buffer's last byte.
        # 2) A frame of 5000 bytes: the buffer grows to exactly that size
        #    (max(2 * 256, needed)), so this payload ends at the end too.
        for probe, total in enumerate((init_size, 5000), 1):
            payload = bytes([0xA5]) * (total - header)
            frame = peer.frame(OP_BINARY, payload)
            assert len(frame) == total
            await peer.conn.send(frame)
            await until(lambda: lst.slack_probes == probe, what=f"slack probe {probe}")
            assert lst.slack_payload_size == total - header
            assert lst.slack_tail_size == 0 and lst.slack_last_in_buffer
            # Readable (no crash, ASan-clean) is the guarantee.  That the
            # bytes read as zeros is a detail of this implementation (the
            # buffer zero-fills its slack); it also confirms the payload
            # really ended at the end of the buffer.
            assert lst.slack_or == 0 and lst.slack_last_byte == 0
        assert lst.echoed_frames == 0


ASAN = os.environ.get("PICOWS_LIKE_TEST_ASAN", "") not in ("", "0")
ASAN_FLAGS = {"CFLAGS": "-fsanitize=address -fno-omit-frame-pointer",
              "LDFLAGS": "-fsanitize=address"}


def _libasan() -> Optional[str]:
    cc = find_c_compiler()
    if cc is None or not sys.platform.startswith("linux"):
        return None
    out = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True)
    path = out.stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def _build_asan_copy(cache_root: Path) -> Path:
    """picows_like and cython_echo built with -fsanitize=address, in a cached
    directory: <dir>/picows_like and <dir>/u/cython_echo*.so."""
    h = hashlib.sha256(build_digest(CYTHON_ECHO_DIR).encode())
    for path in sorted(_package_dir().rglob("*")):
        if path.is_file() and path.suffix in (".pyx", ".pxd", ".py", ".h"):
            h.update(str(path.relative_to(_package_dir())).encode() + path.read_bytes())
    h.update((REPO_ROOT / "setup.py").read_bytes())
    target = cache_root / f"asan-{h.hexdigest()[:20]}"
    if (target / ".built").exists() and not REBUILD:
        return target
    staging = cache_root / f".asan-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    shutil.copytree(_package_dir(), staging / "picows_like", ignore=_BUILD_IGNORE)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, staging / name)
    shutil.copytree(CYTHON_ECHO_DIR, staging / "u", ignore=_BUILD_IGNORE)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **ASAN_FLAGS)
    for cwd, extra in ((staging, ["-j", "2"]), (staging / "u", [])):
        proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", *extra],
                              cwd=cwd, capture_output=True, text=True, timeout=900,
                              env=dict(env, PYTHONPATH=str(staging)))
        if proc.returncode != 0:
            pytest.fail(f"ASan build in {cwd} failed:\n{proc.stderr[-8000:]}", pytrace=False)
    (staging / ".built").write_text("ok")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    _prune(cache_root, "asan", keep=target)
    return target


@needs_own_package
@pytest.mark.skipif(not ASAN, reason="opt-in with PICOWS_LIKE_TEST_ASAN=1: builds an "
                    "AddressSanitizer copy of picows_like (about 2 minutes cold, then cached)")
def test_payload_slack_under_asan(cython_build_root):
    """The same over-read as above, with ASan watching: WS_PAYLOAD_SLACK bytes
    are clean, one more byte is a heap-buffer-overflow (so the slack is exactly
    where and as large as documented, and the frame ended at the buffer's end)."""
    libasan = _libasan()
    if libasan is None:
        pytest.skip("no libasan.so for the C compiler")
    root = _build_asan_copy(cython_build_root)
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{root / 'u'}", LD_PRELOAD=libasan,
               ASAN_OPTIONS="detect_leaks=0")
    results = {}
    for extra in ("0", "1"):
        results[extra] = subprocess.run([sys.executable, "asan_probe.py", extra], cwd=root / "u",
                                        env=env, capture_output=True, text=True, timeout=120)
    clean, over = results["0"], results["1"]
    assert clean.returncode == 0, clean.stdout + clean.stderr[-6000:]
    assert "AddressSanitizer" not in clean.stderr, clean.stderr[-6000:]
    assert f"picows_like: {root}" in clean.stdout, clean.stdout
    assert "slack probes: 2, read 64 bytes" in clean.stdout, clean.stdout
    assert over.returncode != 0 and "heap-buffer-overflow" in over.stderr, \
        over.stdout + over.stderr[-6000:]


# -----------------------------------------------------------------------------
# Examples
# -----------------------------------------------------------------------------

@needs_own_package
def test_cython_echo_client_example(example_client_build):
    built = example_client_build
    assert built.seconds < BUILD_BUDGET, f"building the example took {built.seconds:.1f} s"
    proc = subprocess.run([sys.executable, "run_echo_client.py", "--rounds", "200",
                           "--show", "3"], cwd=built.path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == \
        ["round trip 1", "round trip 2", "round trip 3"], proc.stdout
    assert lines[-1].startswith("200 round trips of 256 bytes: min "), proc.stdout


@needs_own_package
def test_send_reuse_external_bytearray_example():
    proc = subprocess.run([sys.executable, str(EXAMPLES_DIR / "send_reuse_external_bytearray.py")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1000 orders sent and acknowledged with send_reuse_external_bytearray" \
        in proc.stdout, proc.stdout


# -----------------------------------------------------------------------------
# Typing: mypy --strict on the examples and on a typed user of every name
# -----------------------------------------------------------------------------

def _imported_public_names(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "picows_like":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def test_typed_usage_uses_every_public_name():
    tree = ast.parse(TYPED_USAGE.read_text())
    imported = _imported_public_names(TYPED_USAGE)
    missing = set(picows_like.__all__) - imported
    assert not missing, f"tests/typed_api_usage.py does not use {sorted(missing)}"
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    unused = {n for n in imported if n not in used}
    assert not unused, f"imported but never used: {sorted(unused)}"


@pytest.mark.asyncio
async def test_typed_api_usage_runs():
    import typed_api_usage
    result = await wf(typed_api_usage.main(), 8)
    assert result["close_code"] == picows_like.WSCloseCode.POLICY_VIOLATION
    assert result["debug_level"] == picows_like.PICOWS_DEBUG_LL


def _mypy_available():
    return importlib.util.find_spec("mypy") is not None


needs_mypy = pytest.mark.skipif(not _mypy_available(),
                                reason="mypy is not installed (pip install mypy: a test dependency)")


@needs_mypy
@needs_own_package
def test_mypy_strict():
    # The exact invocation (from the repository root):
    #   .venv/bin/python -m mypy --strict examples tests/typed_api_usage.py
    cmd = [sys.executable, "-m", "mypy", "--strict", "examples", "tests/typed_api_usage.py"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd[2:])}:\n{proc.stdout}{proc.stderr}"


@needs_mypy
@needs_own_package
@pytest.mark.skipif(not (REPO_ROOT / "picows_like").is_dir(),
                    reason="the package's sources are not beside the tests (installed sdist)")
def test_mypy_on_the_package():
    # The package's own Python code, type-checked as a whole (its .pyi stubs
    # stand in for the compiled modules):
    #   .venv/bin/python -m mypy picows_like
    cmd = [sys.executable, "-m", "mypy", "picows_like"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd[2:])}:\n{proc.stdout}{proc.stderr}"


STUBTEST_ALLOWLIST = r"""
# Cython adds these to every compiled module / cdef class.
picows_like\..*\.__reduce_cython__
picows_like\..*\.__setstate_cython__
picows_like\..*\.__test__
picows_like\..*\.__pyx_capi__
# A name _protocol imports for its own use.
picows_like\._protocol\.MAX_HEADER_BYTES
"""


def _stubtest_mypy_config(cache_dir: Path) -> str:
    """stubtest type-checks the whole package first; type errors inside the
    plain-Python modules' own code are not about the stubs (and are not
    reported to users of an installed package), so silence them here and
    keep the .pyi stubs checked."""
    py_modules = sorted("picows_like" if p.stem == "__init__" else f"picows_like.{p.stem}"
                        for p in _package_dir().glob("*.py"))
    return (f"[mypy]\ncache_dir = {cache_dir}\n"
            f"[mypy-{','.join(py_modules)}]\nignore_errors = True\n")


@needs_mypy
@needs_own_package
def test_stubs_match_the_compiled_modules(tmp_path, pytestconfig):
    """stubtest: every compiled module has a .pyi that agrees with what it
    exports at runtime."""
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST)
    config = tmp_path / "mypy.ini"
    cache = getattr(pytestconfig, "cache", None)
    cache_dir = Path(cache.mkdir("picows_like_stubtest_mypy")) if cache else tmp_path / "mypy"
    config.write_text(_stubtest_mypy_config(cache_dir))
    # Every compiled module needs a stub (a plain .py module is its own stub).
    pkg = _package_dir()
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    compiled = sorted(p.name[:-len(suffix)] for p in pkg.glob(f"*{suffix}"))
    missing = [name for name in compiled if not (pkg / f"{name}.pyi").exists()]
    assert not missing, f"compiled modules without a .pyi stub: {missing}"
    modules = [f"picows_like.{name}" for name in compiled]
    cmd = [sys.executable, "-m", "mypy.stubtest", *modules, "--concise",
           "--ignore-disjoint-bases", "--allowlist", str(allowlist),
           "--mypy-config-file", str(config)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cython_api_files_are_package_data():
    pkg = _package_dir()
    for name in ("__init__.pxd", "_enums.pxd", "_frame.pxd", "_transport.pxd",
                 "_listener.pxd", "py.typed", "_enums.pyi", "_frame.pyi", "_transport.pyi",
                 "_listener.pyi"):
        assert (pkg / name).exists(), name
    try:
        import tomllib
    except ImportError:      # Python < 3.11
        pytest.skip("tomllib needs Python >= 3.11")
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    package_data = data["tool"]["setuptools"]["package-data"]["picows_like"]
    for pattern in ("*.pxd", "*.pyi", "py.typed", "includes/*.h"):
        assert pattern in package_data, pattern
