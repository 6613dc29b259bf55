"""Keep numba's on-disk cache of the engine consistent with its sources.

numba keys a cached function on the contents of its own source file only. A kernel cached
from ``assimilate.py`` keeps an equation of ``front.py``, inlined, or a constant of
``results/names.py`` as they were when it was compiled, even after those files change: the
run silently uses the old model. So the engine's cache folder carries a digest of every
source its compiled code takes in; when the digest differs, the folder's cached functions are
removed before any is loaded, and the next run compiles afresh. Costs hashing some 20 small
files at import.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ENGINE = Path(__file__).resolve().parent
_PACKAGE = _ENGINE.parent
# files whose code or constants the compiled kernels take in, besides the engine's own
DEPENDENCIES = (
    "results/names.py",
    "scenario/registry.py",
    "scenario/distributions.py",
    "scenario/params.toml",
)
STAMP = "levercast-engine.sha256"


def sources_digest(files: list[Path]) -> str:
    """One digest of the names and contents of ``files``."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def purge_if_stale(cache_dir: Path, digest: str) -> int:
    """Remove the cached functions (``*.nbi``, ``*.nbc``) of ``cache_dir`` unless its stamp
    records ``digest``, then record it; returns how many files were removed. Nothing is
    raised: a cache that cannot be read or written is left to numba."""
    stamp = cache_dir / STAMP
    try:
        if stamp.read_text() == digest:
            return 0
    except OSError:
        pass
    removed = 0
    try:
        for path in [*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")]:
            path.unlink(missing_ok=True)
            removed += 1
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{STAMP}.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        pass
    return removed


def engine_cache_dir() -> Path | None:
    """Where numba caches the engine's functions, found as numba finds it (its locators in
    order; None when none applies)."""
    try:
        from numba.core import caching

        source = str(_ENGINE / "kernels.py")

        def probe():  # numba's locators want a function of the file
            pass

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        for locator in impl._locator_classes:
            found = locator.from_function(probe, source)
            if found is not None:
                return Path(found.get_cache_path())
    except Exception:  # noqa: BLE001 - a numba without this API: leave its cache alone
        return None
    return None


def check_engine_cache() -> int:
    """:func:`purge_if_stale` on the engine's cache folder, with the digest of the engine's
    modules and :data:`DEPENDENCIES`."""
    cache_dir = engine_cache_dir()
    if cache_dir is None:
        return 0
    files = sorted(_ENGINE.glob("*.py")) + [_PACKAGE / d for d in DEPENDENCIES]
    return purge_if_stale(cache_dir, sources_digest(files))
