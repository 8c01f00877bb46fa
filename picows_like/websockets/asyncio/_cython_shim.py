"""Stands in for the ``cython`` module when Cython is not installed (see
_fastpath.py): the code then runs uncompiled."""
compiled = False
