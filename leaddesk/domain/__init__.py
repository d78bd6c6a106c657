"""Pure-Python core of LeadDesk: no Qt, no SQL, no I/O.

Everything here can be tested without a database or a display, and every function that
depends on the current time takes ``now`` as a parameter.
"""
