"""Stands in for the ``cython`` module when Cython is not installed (see
_fastpath.py): the code then runs uncompiled."""
compiled = False
int = int


def declare(kind, value=None):
    """cython.declare(type, value) is the value itself when uncompiled."""
    return value
