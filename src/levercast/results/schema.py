"""The one statement of the Parquet types levercast writes, so that every reader (pyarrow,
pandas, DuckDB, polars) sees one type per column whatever the writer's pandas version.

:func:`to_arrow` turns a frame into the Arrow table :func:`levercast.results.store.write_table`
writes, by these rules (:func:`column_type`):

- ``date`` is a calendar date (``date32``), never a timestamp whose unit follows pandas;
- the weeks of an event (:data:`EVENT_WEEK_COLUMNS`) are nullable ``int32``, null when the
  event never happened (no ``-1`` sentinel: a plain mean of them is the mean over the
  trajectories where it happened);
- ``week`` is ``int32``, ``cell`` is ``int64`` (also inside each sweep part file, so a glob
  over ``cell-<id>/`` folders does not depend on a reader's partition-type guess);
- text is plain ``string`` (not ``large_string``, not a dictionary/categorical);
- every other column keeps the type pandas gives it (``float64``, ``int64``, ``bool``).

:func:`files` lists every file of a run and a sweep with each column's type, unit and meaning;
``docs/results.md`` is generated from it (:func:`markdown`) and a test reads every file in the
four readers and compares their types with it. Column names come from
:mod:`levercast.results.names`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from levercast.results import names as N

# --- logical types, and what each reader shows for them -----------------------------------------
STRING = "string"
INT32 = "int32"
WEEK = "int32?"  # nullable int32: null when the event never happened
INT64 = "int64"
FLOAT64 = "float64"
BOOL = "bool"
DATE = "date32"

ARROW = {
    STRING: pa.string(),
    INT32: pa.int32(),
    WEEK: pa.int32(),
    INT64: pa.int64(),
    FLOAT64: pa.float64(),
    BOOL: pa.bool_(),
    DATE: pa.date32(),
}
DUCKDB = {
    STRING: "VARCHAR",
    INT32: "INTEGER",
    WEEK: "INTEGER",
    INT64: "BIGINT",
    FLOAT64: "DOUBLE",
    BOOL: "BOOLEAN",
    DATE: "DATE",
}
POLARS = {
    STRING: "String",
    INT32: "Int32",
    WEEK: "Int32",
    INT64: "Int64",
    FLOAT64: "Float64",
    BOOL: "Boolean",
    DATE: "Date",
}
# pandas: text is the installed pandas' default string dtype ("str" from pandas 3, "object"
# before); dates are datetime.date objects ("object"); event weeks are the nullable "Int32".
PANDAS = {
    STRING: str(pd.Series(["a"]).dtype),
    INT32: "int32",
    WEEK: "Int32",
    INT64: "int64",
    FLOAT64: "float64",
    BOOL: "bool",
    DATE: "object",
}

EVENT_WEEK_COLUMNS = (
    N.RECORD_COLUMNS[N.R_TALKS_WEEK],
    N.RECORD_COLUMNS[N.R_CEASEFIRE_BROKEN_WEEK],
    N.RECORD_COLUMNS[N.R_COLLAPSE_WEEK],
)
DATE_COLUMNS = ("date",)
FIXED = {"week": INT32, "cell": INT64, **{c: WEEK for c in EVENT_WEEK_COLUMNS}}
FIXED.update({c: DATE for c in DATE_COLUMNS})


def event_weeks(values) -> pd.array:
    """A week-of-event column as written: nullable Int32, null where ``values`` is negative
    (the engine's record marks "never" with -1)."""
    v = np.asarray(values, dtype=np.float64)
    never = ~(v >= 0)
    return pd.arrays.IntegerArray(np.where(never, 0, v).astype(np.int32), mask=never)


def column_type(name: str, arrow_type: pa.DataType) -> str | None:
    """The logical type of a column, from its name (:data:`FIXED`) or the type pyarrow
    infers; ``None`` keeps the inferred type (a type this schema does not govern)."""
    if name in FIXED:
        return FIXED[name]
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return STRING
    for kind in (INT32, INT64, FLOAT64, BOOL):
        if arrow_type == ARROW[kind]:
            return kind
    return None


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as the Arrow table written to Parquet, its columns cast to the types of
    :func:`column_type` (pandas metadata included, so that pandas reads the same dtypes)."""
    inferred = pa.Table.from_pandas(frame, preserve_index=False).schema
    frame = frame.copy(deep=False)
    fields = []
    for field in inferred:
        kind = column_type(field.name, field.type)
        col = frame[field.name]
        if kind == WEEK:
            frame[field.name] = col.astype("Int32")
        elif kind == DATE:
            frame[field.name] = pd.to_datetime(col).dt.date.astype(object)
        elif kind == STRING and isinstance(col.dtype, pd.CategoricalDtype):
            frame[field.name] = col.astype(PANDAS[STRING])
        fields.append(pa.field(field.name, ARROW[kind] if kind else field.type))
    return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)


# --- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class File:
    path: str  # in a run or sweep folder
    meaning: str
    columns: tuple[Column, ...]
    more: str = ""  # columns named by a pattern (documented, not enumerated)


_Q = tuple(f"q{q:02d}" for q in (5, 10, 25, 50, 75, 90, 95))
_SUMMARY = (
    Column(
        "metric",
        STRING,
        "",
        "`outcome_<class>`, an event or `<metric>_at_horizon`, `talks_week`, `leverage_score`",
    ),
    Column("kind", STRING, "", "`probability` or `distribution`"),
    Column("probability", FLOAT64, "share", "P(metric) (probability rows; null otherwise)"),
    Column("std_error", FLOAT64, "unit of the row", "Monte Carlo standard error"),
    Column("ci_low", FLOAT64, "unit of the row", "95% interval, low (Wilson for probabilities)"),
    Column("ci_high", FLOAT64, "unit of the row", "95% interval, high"),
    Column("n", INT64, "trajectories", "trajectories the row is computed over"),
    Column("mean", FLOAT64, "unit of the metric", "mean (distribution rows)"),
    Column("q05", FLOAT64, "unit of the metric", "5% quantile (distribution rows)"),
    Column("q50", FLOAT64, "unit of the metric", "median (distribution rows)"),
    Column("q95", FLOAT64, "unit of the metric", "95% quantile (distribution rows)"),
)
_PAIRED = (
    Column("diff", FLOAT64, "share", "paired difference of P(outcome) from cell 0 (outcome rows)"),
    Column("diff_se", FLOAT64, "share", "its standard error (common random numbers)"),
    Column("diff_ci_low", FLOAT64, "share", "its 95% interval, low"),
    Column("diff_ci_high", FLOAT64, "share", "its 95% interval, high"),
)
_BANDS = (
    Column("week", INT32, "weeks", "weeks since the start date (0 = start)"),
    Column("date", DATE, "date", "calendar date of the week"),
    Column(
        "metric",
        STRING,
        "",
        "banded metric (`"
        + "`, `".join(N.BAND_METRICS.values())
        + "`) or event probability (`"
        + "`, `".join(N.EVENT_METRICS.values())
        + "`)",
    ),
    Column("mean", FLOAT64, "unit of the metric", "mean (the probability for `p_*` rows)"),
    Column("std_error", FLOAT64, "unit of the metric", "Monte Carlo standard error of the mean"),
) + tuple(
    Column(q, FLOAT64, "unit of the metric", f"{int(q[1:])}% quantile (null for `p_*` rows)")
    for q in _Q
)
_RECORD_MEANING = {
    N.R_OUTCOME: (STRING, "", "outcome class: `" + "`, `".join(N.OUTCOMES) + "`"),
    N.R_TALKS_WEEK: (WEEK, "weeks", "week talks opened; null when they never did"),
    N.R_CEASEFIRE: (BOOL, "", "talks produced a cease-fire"),
    N.R_CEASEFIRE_BROKEN_WEEK: (
        WEEK,
        "weeks",
        "week the cease-fire broke; null when it held or there was none",
    ),
    N.R_COLLAPSE_WEEK: (WEEK, "weeks", "week the front collapsed; null when it did not"),
    N.R_TERRITORY_KM2: (FLOAT64, "km²", "territory lost at the horizon"),
    N.R_KURSK_KM2: (FLOAT64, "km²", "Kursk area held at the horizon"),
    N.R_UA_MANPOWER: (FLOAT64, "soldiers", "Ukrainian manpower at the horizon"),
    N.R_LEVERAGE: (FLOAT64, "score 0-1", "leverage when talks opened; null (NaN) otherwise"),
    N.R_ADVANCE_AT_TALKS: (
        FLOAT64,
        "km²/week",
        "trailing advance when talks opened; NaN otherwise",
    ),
    N.R_RU_CASUALTIES_FIRST_WEEK: (
        FLOAT64,
        "soldiers",
        "Russian casualties in week 1 (calibration)",
    ),
    N.R_KURSK_LOSS_FIRST_WEEKS: (
        FLOAT64,
        "km²/week",
        "mean weekly Kursk area lost, weeks 1-8 (calibration)",
    ),
}
_TRAJECTORIES = (
    (Column("trajectory", INT64, "", "trajectory index (0-based)"),)
    + tuple(Column(N.RECORD_COLUMNS[c], *_RECORD_MEANING[c]) for c in N.RECORD_COLUMNS)
    + (
        Column(N.COST, FLOAT64, "USD/year", "what the package costs, averaged over the horizon"),
        Column(N.ADDED_COST, FLOAT64, "USD/year", "its cost over the October 2024 levers"),
    )
)
_CELL = Column("cell", INT64, "", "sweep cell id (0 = the reference, the scenario as written)")


def files() -> tuple[File, ...]:
    """Every Parquet file of a run and a sweep folder with its columns."""
    from levercast.results import store  # (store writes through to_arrow: imported late)

    return _files(store.CELLS, store.CONDITIONING)


def _files(cells: str, conditioning: str) -> tuple[File, ...]:
    return (
        File("summary.parquet", "one row per outcome, event and distribution summary", _SUMMARY),
        File("bands.parquet", "per week and metric: mean, standard error and quantiles", _BANDS),
        File(
            "histograms.parquet",
            "exact weekly distribution of every banded metric (for scoring)",
            (
                Column("week", INT32, "weeks", "weeks since the start date"),
                Column("metric", STRING, "", "banded metric"),
                Column("bin", INT32, "", "square-root bin index (see `results/names.py`)"),
                Column("count", INT64, "trajectories", "trajectories in the bin"),
                Column(
                    "lo",
                    FLOAT64,
                    "unit of the metric",
                    "bin's low edge, clipped to the week's minimum",
                ),
                Column(
                    "hi",
                    FLOAT64,
                    "unit of the metric",
                    "bin's high edge, clipped to the week's maximum (`lo == hi`: a point mass)",
                ),
            ),
        ),
        File(
            "trajectories.parquet",
            "the first K trajectories (`run --keep-trajectories K`)",
            _TRAJECTORIES,
            more="then `u_<parameter>` (float64, the parameter's unit): each drawn uncertainty "
            "(and each parameter a posterior sets) as the trajectory drew it",
        ),
        File(
            conditioning,
            "a run conditioned on observations (`run --observed`): one row per observation week",
            (
                Column("week", INT32, "weeks", "week whose end the observations are assessed at"),
                Column("date", DATE, "date", "date of the latest observation of the week"),
                Column("observations", STRING, "", "the observations (`metric on date`; ...)"),
                Column("ess", FLOAT64, "particles", "effective sample size of the week's weights"),
                Column("distinct", INT64, "particles", "distinct particles kept by resampling"),
                Column("low", BOOL, "", "the effective sample size is below the warning level"),
            ),
        ),
        File(
            "backtest.parquet",
            "a backtest folder (`levercast backtest`): one row per origin, lead, metric and "
            "forecast",
            (
                Column("origin", DATE, "date", "forecast origin: observations up to it are used"),
                Column("lead_weeks", INT32, "weeks", "lead of the forecast"),
                Column("target", DATE, "date", "date of the observation scored"),
                Column("metric", STRING, "", "observed metric"),
                Column("kind", STRING, "", "`continuous` or `event`"),
                Column("forecast", STRING, "", "model, unconditioned, persistence, climatology"),
                Column("value", FLOAT64, "unit of the metric", "the observation"),
                Column("median", FLOAT64, "unit of the metric", "forecast median (continuous)"),
                Column("prob", FLOAT64, "probability", "forecast probability (events)"),
                Column("pit", FLOAT64, "", "probability integral transform of the observation"),
                Column("in_50", FLOAT64, "0/1", "inside the central 50% interval"),
                Column("in_90", FLOAT64, "0/1", "inside the central 90% interval"),
                Column(
                    "crps", FLOAT64, "unit of the metric", "continuous ranked probability score"
                ),
                Column("brier", FLOAT64, "", "Brier score (events)"),
                Column("log_score", FLOAT64, "", "log score (events)"),
            ),
        ),
        File(
            "backtest_summary.parquet",
            "a backtest folder: per metric, lead and forecast",
            (
                Column("metric", STRING, "", "observed metric"),
                Column("lead_weeks", INT32, "weeks", "lead of the forecast"),
                Column("forecast", STRING, "", "model, unconditioned, persistence, climatology"),
                Column("pairs", INT64, "", "(origin, lead) pairs scored"),
                Column("pit_mean", FLOAT64, "", "mean PIT (0.5 when unbiased)"),
                Column("cover_50", FLOAT64, "share", "share inside the central 50% interval"),
                Column("cover_90", FLOAT64, "share", "share inside the central 90% interval"),
                Column("crps", FLOAT64, "unit of the metric", "mean CRPS"),
                Column("skill", FLOAT64, "", "1 - CRPS / CRPS of persistence, same pairs"),
                Column("brier", FLOAT64, "", "mean Brier score (events)"),
                Column("log_score", FLOAT64, "", "mean log score (events)"),
            ),
        ),
        File(
            "origins.parquet",
            "a backtest folder: one row per origin",
            (
                Column("origin", DATE, "date", "forecast origin"),
                Column("observations", INT64, "", "observations dated after the start and by it"),
                Column("min_ess", FLOAT64, "particles", "smallest effective sample size"),
                Column("territory_at_origin", FLOAT64, "km2", "last territory observed by it"),
                Column("territory_date", DATE, "date", "date of that observation"),
            ),
        ),
        File(
            cells,
            "a sweep's cells and their lever values",
            (_CELL,),
            more="then `<lever>` (float64, the lever's unit) for every swept lever",
        ),
        File(
            "summary/cell-<id>/part-0.parquet",
            "a sweep cell's summary with paired differences from cell 0",
            (_CELL, *_SUMMARY, *_PAIRED),
        ),
        File("bands/cell-<id>/part-0.parquet", "a sweep cell's bands", (_CELL, *_BANDS)),
    )


def markdown() -> str:
    """``docs/results.md``: every file and column with its type in each reader."""
    lines = [
        "# Results files: every column, its type, unit and meaning",
        "",
        "Generated by `python docs/generate.py` from `src/levercast/results/schema.py` (column",
        "names from `results/names.py`); `tests/test_schema.py` fails when it is stale, and",
        "it reads every file in pyarrow, pandas, DuckDB and polars and checks",
        "their types against this list.",
        "",
        "A run folder holds `summary.parquet`, `bands.parquet`, `histograms.parquet`, and with",
        "`--keep-trajectories K` `trajectories.parquet` (with `--observed`, also",
        "`conditioning.parquet`), plus `scenario.toml`. A sweep folder",
        "holds `_sweep.json` (the manifest), `cells.parquet`, `summary/cell-<id>/part-0.parquet`",
        "and `bands/cell-<id>/part-0.parquet` per cell, `_reference_outcomes.npy` (the outcome",
        "class, int8, of every trajectory of cell 0: it pairs the other cells with the",
        "reference when a sweep resumes) and, after `levercast analyze`, `analysis/*.parquet`.",
        "Every Parquet file carries its provenance as JSON under the schema metadata key",
        "`levercast`.",
        "",
        "Types, one per column whatever the reader:",
        "",
        "| type | pyarrow | pandas | DuckDB | polars |",
        "|---|---|---|---|---|",
    ]
    pandas_doc = {STRING: "`str` (`object` before pandas 3)"}  # (the doc is version-free)
    for kind in (STRING, INT32, WEEK, INT64, FLOAT64, BOOL, DATE):
        lines.append(
            f"| `{kind}` | `{ARROW[kind]}` | {pandas_doc.get(kind, f'`{PANDAS[kind]}`')} "
            f"| `{DUCKDB[kind]}` "
            f"| `{POLARS[kind]}` |"
        )
    lines += [
        "",
        "`int32?` is a nullable int32: null means the event never happened (no -1 sentinel).",
        "pandas shows text as its default string dtype (`str` from pandas 3, `object` before)",
        "and dates as `datetime.date` objects. Temporary files (`.tmp-<name>-<random>.tmp`) and",
        "folders (`.partial-*`) never end in `.parquet`, so `*.parquet` globs skip them.",
        "The other Parquet files levercast writes (`analysis/*.parquet` of `analyze`, the",
        "tables of `fit`, the scores of `score --out`) follow the same rules: they are written",
        "through the same function (`schema.to_arrow`).",
        "",
    ]
    for f in files():
        lines += [f"## `{f.path}`", "", f.meaning[0].upper() + f.meaning[1:] + ".", ""]
        lines += ["| column | type | unit | meaning |", "|---|---|---|---|"]
        for c in f.columns:
            lines.append(f"| `{c.name}` | `{c.type}` | {c.unit} | {c.meaning} |")
        if f.more:
            lines += ["", f"Columns after these: {f.more}."]
        lines.append("")
    return "\n".join(lines)
