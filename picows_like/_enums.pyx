"""WSMsgType, WSCloseCode and WSAutoPingStrategy as Python enums.

The members are declared in _enums.pxd so that Cython code (ours and users')
sees them as C constants; this module exports their Python side.
"""
