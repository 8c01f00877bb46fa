"""The Cython counting listener for parser.py --cython: the same listener as
the Python one (count frames, sum payload_size), as a cdef class per library
so the protocol calls it through the vtable. Built on first use with the
interpreter's Cython into a cache directory keyed by the sources and the
libraries' binaries (a rebuilt library gets a rebuilt listener)."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = '''# cython: language_level=3
from {cimport_from} cimport WSFrame, WSTransport, WSListener


cdef class CountingListener(WSListener):
    cdef public Py_ssize_t frames
    cdef public Py_ssize_t payload_bytes
    cdef public bint connected
    cdef public object record        # a list while verifying payload contents

    cpdef on_ws_connected(self, WSTransport transport):
        self.connected = True

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        self.frames += 1
        self.payload_bytes += frame.payload_size
        if self.record is not None:
            self.record.append(frame.get_payload_as_bytes())
'''
CIMPORT_FROM = {"picows": "picows.picows", "picows_like": "picows_like"}

SETUP = '''
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(ext_modules=cythonize(
    [Extension(name, [name + ".pyx"], include_dirs={include_dirs!r}) for name in {names!r}],
    compiler_directives={{"language_level": "3"}}, quiet=True))
'''


def _library_dirs() -> dict[str, Path]:
    import picows
    from _bench_common import import_picows_like
    return {"picows": Path(picows.__file__).parent,
            "picows_like": Path(import_picows_like().__file__).parent}


def _module_name(impl: str) -> str:
    return f"_plb_cy_listener_{impl}"


def _build_dir(dirs: dict[str, Path]) -> Path:
    key = hashlib.sha256(SOURCE.encode() + SETUP.encode() + sys.version.encode())
    for d in dirs.values():        # the libraries' binaries: a rebuild needs a new listener
        for so in sorted(d.glob("*.so")):
            key.update(f"{so}:{so.stat().st_mtime_ns}".encode())
    return Path(tempfile.gettempdir()) / f"parser-bench-cython-{key.hexdigest()[:16]}"


def counting_listener_class(impl: str):
    """CountingListener compiled against `impl` (built if not cached)."""
    dirs = _library_dirs()
    build = _build_dir(dirs)
    if not any(build.glob(f"{_module_name(impl)}*.so")):
        build.mkdir(parents=True, exist_ok=True)
        names = [_module_name(i) for i in CIMPORT_FROM]
        for i in CIMPORT_FROM:
            (build / f"{_module_name(i)}.pyx").write_text(
                SOURCE.format(cimport_from=CIMPORT_FROM[i]))
        include_dirs = [str(dirs["picows"]), str(dirs["picows_like"] / "includes")]
        (build / "setup.py").write_text(SETUP.format(include_dirs=include_dirs, names=names))
        print(f"  building the Cython listeners in {build} ...", file=sys.stderr, flush=True)
        # The library roots go on the path so that Cython finds their .pxd files.
        env_path = ":".join(str(d.parent) for d in dirs.values())
        proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=build,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": env_path})
        if proc.returncode != 0:
            raise RuntimeError(f"building the Cython listeners failed:\n{proc.stderr[-3000:]}")
    if str(build) not in sys.path:
        sys.path.insert(0, str(build))
    return importlib.import_module(_module_name(impl)).CountingListener
