"""Builds the Cython extension modules of picows_like.

PICOWS_LIKE_DEBUG=1 gives the debug build: Cython line tracing, bounds and
wraparound checks, C assertions on, -O0 -g.  The default is the release build.
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("PICOWS_LIKE_DEBUG", "") not in ("", "0")
MODULES = ["_enums", "_buffer", "_frame", "_parser", "_deflate", "_transport", "_listener",
           "_protocol", "_engine"]
LIBRARIES = {"_deflate": ["z"]}        # permessage-deflate uses zlib's C API

if sys.platform == "win32":
    cflags = ["/Od" if DEBUG else "/O2"]
else:
    cflags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-DNDEBUG"]

macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
directives = {
    "language_level": "3",
    "embedsignature": True,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "cdivision": not DEBUG,
    "initializedcheck": DEBUG,
    "linetrace": DEBUG,
    "profile": DEBUG,
}

extensions = [
    Extension(
        f"picows_like.{name}",
        [f"picows_like/{name}.pyx"],
        include_dirs=["picows_like/includes"],
        extra_compile_args=cflags,
        define_macros=macros,
        libraries=LIBRARIES.get(name, []),
    )
    for name in MODULES
]
# The websockets-compatible layer's per-message path: plain Python that runs
# as is, compiled here (with its .pxd) for speed.
extensions.append(Extension(
    "picows_like.websockets.asyncio._fastpath",
    ["picows_like/websockets/asyncio/_fastpath.py"],
    extra_compile_args=cflags,
    define_macros=macros,
))

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=DEBUG,
        force=DEBUG,
    ),
)
