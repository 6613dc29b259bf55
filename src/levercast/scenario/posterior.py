"""A posterior file: equally weighted draws of fitted parameters, read and validated.

A scenario names one with ``[posterior] file = "path.parquet"`` (relative to the scenario file
that names it). The file is Parquet with one row per posterior draw (already resampled, so
every row has the same weight) and one float64 column per fitted parameter, named by its
registry name: any numeric parameter (lever, uncertainty, constant, state or reference value),
never a choice lever or a calendar date. Schema metadata (``levercast.ess``,
``levercast.targets_sha256``, ...) is not read here.

A run draws one row per trajectory and every column overrides its parameter's draw
(model.md, "Parameter draws"); how is :mod:`levercast.engine.lowering`'s and
:mod:`levercast.engine.sampling`'s business. This module only reads the data: the file's bytes
(hashed, so that a posterior that changes on disk changes the scenario's sha256), its columns
and the checks every value must pass.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from levercast.scenario import registry
from levercast.scenario._messages import ConfigError, num, show, suggest

__all__ = ["MAX_POSTERIOR_BYTES", "MAX_POSTERIOR_ROWS", "Posterior", "read_posterior"]

MAX_POSTERIOR_BYTES = 1024 * 1024 * 1024
MAX_POSTERIOR_ROWS = 10_000_000

# posteriors already validated, by (path, sha256 of the bytes)
_CACHE: dict[tuple[str, str], Posterior] = {}

# the kinds of parameter a posterior may set (numbers; choice levers are refused separately)
_FITTABLE = (
    registry.LEVER,
    registry.UNCERTAINTY,
    registry.CONSTANT,
    registry.STATE,
    registry.REFERENCE,
)


@dataclass(frozen=True, eq=False)
class Posterior:
    """Validated posterior draws.

    Attributes
    ----------
    file : str
        Absolute path of the Parquet file.
    sha256 : str
        Hex SHA-256 of the file's bytes: the posterior's identity (equality compares it and
        the column names, not the path).
    names : tuple[str, ...]
        The fitted parameters, in the file's column order.
    values : numpy.ndarray
        float64, shape ``(rows, len(names))``, read-only: row ``j`` is draw ``j``.
    """

    file: str
    sha256: str
    names: tuple[str, ...]
    values: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Posterior):
            return NotImplemented
        return self.sha256 == other.sha256 and self.names == other.names

    def __hash__(self) -> int:
        return hash((self.sha256, self.names))

    def to_toml_value(self, *, with_file: bool = True) -> dict[str, str]:
        """The ``[posterior]`` table of the resolved scenario (``file`` absolute, and the
        ``sha256`` a reload checks the file against)."""
        out = {"file": self.file} if with_file else {}
        out["sha256"] = self.sha256
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.file, self.sha256, self.names, np.asarray(self.values)))


def _rebuild(file: str, sha256: str, names: tuple[str, ...], values: np.ndarray) -> Posterior:
    values = np.array(values, dtype=np.float64, order="C")
    values.setflags(write=False)
    return Posterior(file, sha256, tuple(names), values)


def _index_columns(schema: Any) -> set[str]:
    """Columns pandas wrote for its index (``df.to_parquet`` with an index): not parameters."""
    meta = schema.metadata or {}
    raw = meta.get(b"pandas")
    if raw is None:
        return set()
    try:
        cols = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return set()
    return {c for c in cols if isinstance(c, str)}


def read_posterior(path: str, *, expected_sha256: str | None = None) -> Posterior:
    """Read and validate a posterior file.

    Parameters
    ----------
    path : str
        Absolute path of the Parquet file.
    expected_sha256 : str, optional
        When given (a resolved scenario carries it), the file's bytes must still hash to it.

    Raises
    ------
    ConfigError
        Naming the posterior file and the column (with the row) at fault: a file that cannot
        be read or is not Parquet, no rows, a column that is no registry parameter, a choice
        lever or calendar date, not numeric, a missing or non-finite value, a value outside
        the parameter's domain; or a file that changed since ``expected_sha256`` was taken.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    real = Path(path)
    try:
        size = real.stat().st_size
        if not real.is_file():
            raise ConfigError(path, "", "not a regular file")
        if size > MAX_POSTERIOR_BYTES:
            raise ConfigError(path, "", f"posterior file is larger than 1 GiB ({size} bytes)")
        data = real.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "", "posterior file not found") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read posterior file: {exc.strerror}") from None
    sha = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha != expected_sha256:
        raise ConfigError(
            path,
            "",
            f"the posterior file changed: its sha256 is {sha}, the scenario expects "
            f"{expected_sha256}",
        )
    identity = (str(real), sha)
    known = _CACHE.get(identity)
    if known is not None:
        return known  # the same bytes, already checked (a sweep reloads it for every cell)
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ConfigError(path, "", f"not a readable Parquet file: {exc}") from None
    if table.num_rows == 0:
        raise ConfigError(path, "", "the posterior has no rows (expected one row per draw)")
    if table.num_rows > MAX_POSTERIOR_ROWS:
        raise ConfigError(
            path, "", f"the posterior has {table.num_rows} rows, more than {MAX_POSTERIOR_ROWS}"
        )
    skip = _index_columns(table.schema)
    names: list[str] = []
    columns: list[np.ndarray] = []
    for field_, column in zip(table.schema, table.columns, strict=True):
        name = field_.name
        if name in skip:
            continue
        if name in names:
            raise ConfigError(path, name, "column given twice")
        param = registry.PARAM_BY_NAME.get(name)
        if param is None:
            numeric = [p.name for p in registry.PARAMS if p.kind in _FITTABLE]
            raise ConfigError(
                path, name, f"not a parameter of the registry{suggest(name, numeric)}"
            )
        if param.kind not in _FITTABLE:
            raise ConfigError(
                path, name, f"{name!r} is a {param.kind} date: a posterior sets numbers only"
            )
        if param.is_choice:
            labels = ", ".join(param.choices)
            raise ConfigError(
                path,
                name,
                f"{name!r} is a choice lever ({labels}): a posterior sets numbers only",
            )
        dtype = field_.type
        if not (pa.types.is_floating(dtype) or pa.types.is_integer(dtype)):
            raise ConfigError(path, name, f"expected a float64 column, got {dtype}")
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise ConfigError(path, f"{name}[{row}]", "expected a finite number, got null")
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ConfigError(
                path, f"{name}[{row}]", f"expected a finite number, got {show(float(values[row]))}"
            )
        lo, hi = param.domain
        out = (values < lo) | (values > hi)
        if out.any():
            row = int(np.flatnonzero(out)[0])
            raise ConfigError(
                path,
                f"{name}[{row}]",
                f"expected a number in [{num(lo)}, {num(hi)}] (the parameter's domain), "
                f"got {show(float(values[row]))}",
            )
        names.append(name)
        columns.append(values)
    if not names:
        raise ConfigError(path, "", "the posterior has no parameter columns")
    post = _rebuild(str(real), sha, tuple(names), np.column_stack(columns))
    if len(_CACHE) >= 4:
        _CACHE.clear()
    _CACHE[identity] = post
    return post
