"""Builds one Cython echo client (module name in $ECHO_CY_MODULE) in place, the way a
user builds a module against picows or picows_like: no include_dirs, no
library-specific options; Cython finds the library's .pxd files on sys.path.

    ECHO_CY_MODULE=picows_like_cy python setup.py build_ext --inplace

benchmarks/cython/build.py runs this in a scratch copy; echo.py calls build.py.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

name = os.environ["ECHO_CY_MODULE"]
setup(
    name=name,
    ext_modules=cythonize([Extension(name, [f"{name}.pyx"])],
                          compiler_directives={"language_level": "3"}),
)
