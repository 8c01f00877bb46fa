"""Build the Cython echo client in place:

    python setup.py build_ext --inplace

Nothing picows_like-specific is needed: Cython finds picows_like's .pxd files
on sys.path (they are installed with the package) and the generated C code
includes no picows_like header, so there are no include_dirs to set.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup  # type: ignore[import-untyped,unused-ignore]

setup(
    name="echo_client",
    ext_modules=cythonize(  # type: ignore[no-untyped-call,unused-ignore]
        [Extension("echo_client", ["echo_client.pyx"])],
        compiler_directives={"language_level": "3"}),
)
