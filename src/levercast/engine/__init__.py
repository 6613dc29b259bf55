"""The engine: sampling, the weekly kernel, runs and conditioning (compiled with numba)."""

from levercast.engine._cache import check_engine_cache

check_engine_cache()
