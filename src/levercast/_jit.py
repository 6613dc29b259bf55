"""The one numba decorator of the project: compile options live here and nowhere else.

``cache=True`` keeps start-up short after the first run. ``error_model="numpy"`` lets a
division by zero give inf/nan instead of raising from inside a kernel (the kernel checks for
non-finite state and reports it through its status). ``fastmath`` stays off so that the
compiled kernel and the pure-Python reference agree to the last bit on the same machine.
"""

import numba

_OPTIONS = {"cache": True, "error_model": "numpy", "fastmath": False, "nogil": True}


def jit(func=None, *, parallel=False):
    """Compile ``func`` with the project's numba options.

    Use as ``@jit`` or ``@jit(parallel=True)``.
    """

    def wrap(f):
        return numba.njit(parallel=parallel, **_OPTIONS)(f)

    return wrap if func is None else wrap(func)
