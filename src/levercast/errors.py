"""The one base class of levercast's errors: the CLI catches it once and prints its message."""


class LevercastError(Exception):
    """An error a user can act on: bad input, an output that may not be written, a refused
    resume. Its message says which file, key or option, and what was expected."""
