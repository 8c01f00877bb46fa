"""Builds cython_echo the way a user builds a module against picows_like:
no include_dirs, no picows_like-specific options.

    python setup.py build_ext --inplace
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    name="cython_echo",
    ext_modules=cythonize([Extension("cython_echo", ["cython_echo.pyx"])],
                          compiler_directives={"language_level": "3"}),
)
