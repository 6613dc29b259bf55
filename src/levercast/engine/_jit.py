"""The one numba decorator of the project: compile options live here and nowhere else.

``cache=True`` keeps start-up short after the first run. ``error_model="numpy"`` lets a
division by zero give inf/nan instead of raising from inside a kernel (the kernel checks for
non-finite state and reports it through its status). ``fastmath`` stays off so that the
compiled kernel and the pure-Python reference agree to the last bit on the same machine.
"""

import numba

_OPTIONS = {"cache": True, "error_model": "numpy", "fastmath": False, "nogil": True}


def jit(func=None, *, parallel=False, inline="never", refcount=True):
    """Compile ``func`` with the project's numba options.

    Use as ``@jit``, ``@jit(parallel=True)`` or ``@jit(inline="always")``. The last is for
    small helpers called with constant arguments (numba compiles a separate copy of a function
    for every distinct constant it is called with, unless its body is inlined into the caller)
    and for the weekly equations, inlined into the kernel's loops over lanes.

    ``refcount=False`` is for those loops: they allocate nothing, and numba's reference
    counting of the lane buffer around every inlined call (an atomic increment and decrement
    per call) keeps LLVM from vectorising the loop (measured: no SIMD at all, 2.4x slower).
    """

    def wrap(f):
        return numba.njit(parallel=parallel, inline=inline, _nrt=refcount, **_OPTIONS)(f)

    return wrap if func is None else wrap(func)
