"""Many-objective search over levers, with common random numbers and racing.

``levercast optimize`` searches lever ranges for the packages on the frontier of named
objectives (``max:outcome_stable_front``, ``min:cost``, ...) under constraints
(``outcome_collapse<=0.1``):

1. **Search.** pymoo's NSGA-II proposes candidates generation by generation through its
   ask-and-tell interface; each candidate is simulated with ``n_start`` trajectories and the
   same seed as every other (common random numbers: trajectory ``i`` has the same uncertainty
   draws and unit costs in every candidate).
2. **Racing.** Candidates that no other candidate clearly beats are kept and re-simulated with
   twice the trajectories (the same seed: the first trajectories are the same ones, the new
   ones extend them) until every pair among them is *resolved* (each objective's paired
   difference is beyond ``z`` standard errors, or exactly zero) or ``n_max`` is reached.
   Between rounds, a candidate is dropped when another clearly dominates it (better in every
   objective by more than ``z`` standard errors of the paired difference) or when it clearly
   violates a constraint. The frontier reported is then that of the model, not of the noise,
   and each point carries its Monte Carlo interval and whether it is resolved.

The objective and constraint strings are parsed by strict regular expressions, never
evaluated. The search core, :func:`search`, takes any evaluator (``x, n -> Evaluation``), so
the tests run it on synthetic problems with a known front.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from levercast.engine import costs, simulate
from levercast.errors import LevercastError
from levercast.results import names

Z_RACE = 1.96  # two-sided 95%: a difference is resolved beyond this many standard errors
MAX_RACE = 24  # candidates raced at most (the first by non-domination rank, then search order)

_METRIC = r"[a-z][a-z0-9_]*"
OBJECTIVE_RE = re.compile(rf"(max|min):({_METRIC})")
CONSTRAINT_RE = re.compile(rf"({_METRIC})\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
# short names accepted on the command line for the cost metrics
ALIASES = {"cost": names.COST, "added_cost": names.ADDED_COST}


class OptimizeError(LevercastError, ValueError):
    """A bad objective, constraint, range or setting of ``levercast optimize``."""


def metric_names() -> tuple[str, ...]:
    """Every summary metric an objective or constraint may name."""
    horizon = tuple(
        names.at_horizon(n) for m, n in names.BAND_METRICS.items() if m != names.M_WEEKLY_GAIN
    )
    return (
        *names.OUTCOME_METRICS,
        *names.SUMMARY_EVENTS,
        names.TALKS_WEEK,
        names.LEVERAGE_SCORE,
        *horizon,
        *names.COST_METRICS,
    )


def _metric(text: str, option: str, item: str, known: Sequence[str] | None) -> str:
    metric = ALIASES.get(text, text)
    known = metric_names() if known is None else known
    if metric not in known:
        raise OptimizeError(
            f"{option} {item!r}: unknown metric {text!r}; expected one of "
            f"{', '.join(sorted(known))} (or {', '.join(ALIASES)})"
        )
    return metric


@dataclass(frozen=True)
class Objective:
    metric: str
    sense: str  # "max" or "min"

    @property
    def sign(self) -> float:
        """Multiplies the metric into a quantity to minimise."""
        return -1.0 if self.sense == "max" else 1.0

    def __str__(self) -> str:
        return f"{self.sense}:{self.metric}"


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    bound: float

    def violation(self, value: float) -> float:
        """Positive when violated, by how much."""
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_objective(text: str, known: Sequence[str] | None = None) -> Objective:
    """``"max:outcome_stable_front"`` -> Objective (strict: ``max|min``, ``:``, a metric)."""
    m = OBJECTIVE_RE.fullmatch(text.strip())
    if m is None:
        raise OptimizeError(
            f"--objective {text!r}: expected max:METRIC or min:METRIC, e.g. "
            "max:outcome_stable_front or min:cost"
        )
    return Objective(_metric(m.group(2), "--objective", text, known), m.group(1))


def parse_constraint(text: str, known: Sequence[str] | None = None) -> Constraint:
    """``"outcome_collapse<=0.1"`` -> Constraint (strict: a metric, ``<=`` or ``>=``, a number)."""
    m = CONSTRAINT_RE.fullmatch(text.strip())
    if m is None:
        raise OptimizeError(
            f"--constraint {text!r}: expected METRIC<=NUMBER or METRIC>=NUMBER, e.g. "
            "outcome_collapse<=0.1"
        )
    bound = float(m.group(3))
    return Constraint(_metric(m.group(1), "--constraint", text, known), m.group(2), bound)


# ----------------------------------------------------------------------------- evaluations


@dataclass
class Evaluation:
    """What one candidate gave with ``n`` trajectories.

    ``values`` and ``se`` map each metric to its estimate and Monte Carlo standard error,
    ``ci`` to its 95% interval where the evaluator knows a better one than ``value ± 1.96 se``
    (the Wilson interval of a probability, which stays honest near 0 and 1);
    ``paired`` maps some metrics to their per-trajectory values (an outcome's 0/1 indicator,
    the cost), from which differences between candidates are paired.
    """

    n: int
    values: dict[str, float]
    se: dict[str, float]
    paired: dict[str, np.ndarray] = field(default_factory=dict)
    restored: bool = False  # read back from a checkpoint: no per-trajectory values
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # 95%, where known


Evaluator = Callable[[Mapping[str, float], int], Evaluation]
# many candidates at once, in order (a backend may evaluate them in parallel)
ManyEvaluator = Callable[[Sequence[Mapping[str, float]], int], list[Evaluation]]


def _one_by_one(evaluate: Evaluator) -> ManyEvaluator:
    return lambda xs, n: [evaluate(x, n) for x in xs]


def difference(a: Evaluation, b: Evaluation, metric: str) -> tuple[float, float]:
    """``a - b`` of ``metric`` and its standard error: paired trajectory by trajectory where
    both carry the metric's per-trajectory values for the same ``n``, else from the two
    standard errors (independent, which overstates the error under common random numbers)."""
    pa, pb = a.paired.get(metric), b.paired.get(metric)
    if pa is not None and pb is not None and a.n == b.n:
        d = pa.astype(np.float64) - pb
        mean = float(d.mean())
        return mean, float(np.sqrt(max(float((d * d).mean()) - mean * mean, 0.0) / a.n))
    return a.values[metric] - b.values[metric], math.hypot(a.se[metric], b.se[metric])


def model_evaluator(
    scenario, seed: int, horizon: int | None = None, threads: int | None = None, keep=()
) -> Evaluator:
    """Evaluate lever settings of ``scenario`` by simulation, all with ``seed``.

    Keeps the per-trajectory outcome indicators of the metrics in ``keep`` that are outcome
    classes, and the per-trajectory cost when ``keep`` names a cost metric, for paired
    differences.
    """
    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    outcome_code = {m: k for k, m in enumerate(names.OUTCOME_METRICS)}

    def evaluate(x: Mapping[str, float], n: int) -> Evaluation:
        sc = scenario.with_levers(dict(x)) if x else scenario
        outcomes = np.empty(n, dtype=np.int8)
        result = simulate.run(sc, n, seed, horizon=horizon, threads=threads, outcomes_out=outcomes)
        summary = result.summary().set_index("metric")
        values, se, ci = {}, {}, {}
        for metric, row in summary.iterrows():
            prob = row["kind"] == "probability"
            values[metric] = float(row["probability"] if prob else row["mean"])
            se[metric] = float(row["std_error"])
            ci[metric] = (float(row["ci_low"]), float(row["ci_high"]))
        paired: dict[str, np.ndarray] = {}
        for metric in keep:
            if metric in outcome_code:
                paired[metric] = (outcomes == outcome_code[metric]).astype(np.int8)
        wanted = [m for m in keep if m in names.COST_METRICS]
        if wanted:
            cost, added = costs.per_trajectory(costs.pricing(sc, horizon), seed, 0, n)
            by_name = {names.COST: cost, names.ADDED_COST: added}
            paired.update({m: by_name[m] for m in wanted})
        return Evaluation(n, values, se, paired, ci=ci)

    return evaluate


def evaluate_remote(
    scenario_toml: str,
    base_dir: str,
    x: Mapping[str, float],
    n: int,
    seed: int,
    horizon: int,
    keep: Sequence[str],
) -> Evaluation:
    """:func:`model_evaluator` on one candidate in another process (one numba thread): the
    scenario travels as its resolved TOML text, as a sweep's cells do."""
    from levercast.scenario.loader import loads_scenario

    scenario = loads_scenario(scenario_toml, base_dir=base_dir)
    return model_evaluator(scenario, seed, horizon, None, keep)(x, n)


def dask_evaluator(client, scenario, seed: int, horizon: int, keep) -> ManyEvaluator:
    """Evaluate many candidates at once on a dask.distributed ``client``, in order. Each
    evaluation depends only on the candidate, N and the seed, so the results are the same as
    one by one, bit for bit."""
    from pathlib import Path

    toml = scenario.resolved_toml()
    base_dir = str(Path(scenario.path).parent) if scenario.path else "."

    def many(xs, n):
        futures = [
            client.submit(
                evaluate_remote,
                toml,
                base_dir,
                dict(x),
                n,
                seed,
                horizon,
                tuple(keep),
                pure=False,
            )
            for x in xs
        ]
        return client.gather(futures)

    return many


# ----------------------------------------------------------------------------- search


@dataclass
class Candidate:
    id: int
    x: dict[str, float]
    generation: int
    evaluation: Evaluation


@dataclass
class OptimizeResult:
    """``candidates``: every evaluation (search and racing rounds); ``frontier``: the raced
    frontier with intervals; ``rounds``: per racing round, its N and the candidates alive."""

    candidates: pd.DataFrame
    frontier: pd.DataFrame
    rounds: pd.DataFrame


def _better(obj: Objective, a: Evaluation, b: Evaluation) -> tuple[float, float]:
    """How much better ``a`` is than ``b`` on ``obj`` (positive: better), and its SE."""
    d, se = difference(a, b, obj.metric)
    return -obj.sign * d, se


def clearly_dominates(a: Evaluation, b: Evaluation, objectives, z: float = Z_RACE) -> bool:
    """``a`` is better than ``b`` in every objective by more than ``z`` standard errors
    (an objective where both are exactly equal counts as neither)."""
    strictly = False
    for obj in objectives:
        d, se = _better(obj, a, b)
        if d == 0.0 and se == 0.0:
            continue
        if d <= z * se:
            return False
        strictly = True
    return strictly


def resolved(a: Evaluation, b: Evaluation, objectives, z: float = Z_RACE) -> bool:
    """Every objective's difference between ``a`` and ``b`` is beyond ``z`` standard errors
    or exactly zero: their dominance relation is known."""
    for obj in objectives:
        d, se = _better(obj, a, b)
        if not ((d == 0.0 and se == 0.0) or abs(d) > z * se):
            return False
    return True


def clearly_infeasible(e: Evaluation, constraints, z: float = Z_RACE) -> bool:
    return any(c.violation(e.values[c.metric]) > z * e.se[c.metric] for c in constraints)


def point_front(evals: Sequence[Evaluation], objectives, constraints) -> list[int]:
    """Indices of the feasible (by point estimate) candidates that no other feasible one
    dominates by point estimates."""
    ok = [
        i
        for i, e in enumerate(evals)
        if all(c.violation(e.values[c.metric]) <= 0.0 for c in constraints)
    ]
    f = np.array([[o.sign * evals[i].values[o.metric] for o in objectives] for i in ok])
    front = []
    for a in range(len(ok)):
        dominated = np.any(np.all(f <= f[a], axis=1) & np.any(f < f[a], axis=1))
        if not dominated:
            front.append(ok[a])
    return front


def _rank(evals: Sequence[Evaluation], objectives, constraints) -> list[int]:
    """Candidates in order of non-domination rank (by point estimates, the least violating
    first among infeasible ones)."""
    left = list(range(len(evals)))
    order: list[int] = []
    while left:
        sub = [evals[i] for i in left]
        front = [left[i] for i in point_front(sub, objectives, constraints)]
        if not front:
            viol = [
                sum(max(c.violation(evals[i].values[c.metric]), 0.0) for c in constraints)
                for i in left
            ]
            front = [left[int(np.argmin(viol))]]
        order.extend(front)
        left = [i for i in left if i not in front]
    return order


def _problem(space, objectives, constraints):
    from pymoo.core.problem import Problem

    lo = np.array([v[0] for v in space.values()], dtype=float)
    hi = np.array([v[1] for v in space.values()], dtype=float)
    return Problem(
        n_var=len(space), n_obj=len(objectives), n_ieq_constr=len(constraints), xl=lo, xu=hi
    )


def _algorithm(pop_size: int, n_obj: int, seed: int):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.util.ref_dirs import get_reference_directions

    if n_obj <= 3:
        return NSGA2(pop_size=pop_size, eliminate_duplicates=True)
    ref = get_reference_directions("energy", n_obj, pop_size, seed=seed)
    return NSGA3(ref_dirs=ref, pop_size=pop_size, eliminate_duplicates=True)


def _row(c: Candidate, stage: str, rnd: int, objectives, constraints, z: float) -> dict:
    e = c.evaluation
    row = {"candidate": c.id, "stage": stage, "round": rnd, "generation": c.generation, "n": e.n}
    row.update(c.x)
    for metric in dict.fromkeys([o.metric for o in objectives] + [k.metric for k in constraints]):
        row[metric] = e.values[metric]
        row[f"{metric}_se"] = e.se[metric]
        low, high = e.ci.get(metric, (e.values[metric] - z * e.se[metric], None))
        row[f"{metric}_ci_low"] = low
        row[f"{metric}_ci_high"] = e.values[metric] + z * e.se[metric] if high is None else high
    return row


def search(
    evaluate: Evaluator,
    space: Mapping[str, tuple[float, float]],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
    *,
    pop_size: int = 16,
    generations: int = 6,
    n_start: int = 20_000,
    n_max: int = 320_000,
    seed: int = 0,
    z: float = Z_RACE,
    max_race: int = MAX_RACE,
    progress: Callable[[str], None] | None = None,
    restore: Mapping[int, pd.DataFrame] | None = None,
    checkpoint: Callable[[int, pd.DataFrame], None] | None = None,
    evaluate_many: ManyEvaluator | None = None,
) -> OptimizeResult:
    """Search ``space`` for the frontier of ``objectives`` under ``constraints``.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x, n) -> Evaluation`` for lever values ``x`` (name -> value) with ``n``
        trajectories; must use the same random numbers for every ``x`` (common random
        numbers), and the first ``n`` trajectories of a larger ``n`` must be the same ones.
    space : mapping
        Lever name -> (low, high).
    pop_size, generations : int
        NSGA-II's population and number of generations (NSGA-III beyond three objectives).
    n_start, n_max : int
        Trajectories of the search, and the most any racing round uses (doubling from
        ``n_start``).
    seed : int
        Seeds pymoo's operators (the simulations use the evaluator's own seed).
    z : float
        Standard errors a difference must exceed to count as resolved.
    max_race : int
        Most candidates raced (the first by non-domination rank).
    restore : mapping, optional
        Generation -> its rows as ``checkpoint`` received them, from an interrupted search:
        those generations are told to pymoo without simulating (pymoo, seeded, proposes the
        same candidates again; a mismatch is refused).
    checkpoint : callable, optional
        Called as ``checkpoint(generation, rows)`` after each simulated generation.
    evaluate_many : callable, optional
        ``evaluate_many(xs, n) -> [Evaluation]`` in the order of ``xs``: the same as
        ``evaluate`` on each, perhaps in parallel (the dask backend); default one by one.
    """
    if not space:
        raise OptimizeError("nothing to search: give at least one --range lever=low:high")
    if not objectives:
        raise OptimizeError("give at least one --objective, e.g. max:outcome_stable_front")
    if pop_size < 4 or generations < 1:
        raise OptimizeError(
            f"--population must be >= 4 and --generations >= 1, got {pop_size}, {generations}"
        )
    if not 1 <= n_start <= n_max:
        raise OptimizeError(
            f"--trajectories ({n_start:,}) must be between 1 and --max-trajectories ({n_max:,})"
        )
    from pymoo.core.evaluator import Evaluator as PymooEvaluator
    from pymoo.problems.static import StaticProblem

    many = evaluate_many or _one_by_one(evaluate)
    problem = _problem(space, objectives, constraints)
    algorithm = _algorithm(pop_size, len(objectives), seed)
    algorithm.setup(problem, termination=("n_gen", generations), seed=seed, verbose=False)
    keys = list(space)
    pool: list[Candidate] = []
    rows: list[dict] = []
    for gen in range(generations):
        pop = algorithm.ask()
        X = pop.get("X")
        F = np.empty((len(X), len(objectives)))
        G = np.empty((len(X), len(constraints)))
        stored = None if restore is None else restore.get(gen)
        if stored is not None:
            stored = stored.reset_index(drop=True)
            same = len(stored) == len(X) and all(
                np.array_equal(stored[k].to_numpy(np.float64), X[:, j]) for j, k in enumerate(keys)
            )
            if not same:
                raise OptimizeError(
                    f"cannot resume: generation {gen} of the checkpoint is not the one the search "
                    "proposes again (another pymoo version?); use --force to start over"
                )
        first = len(pool)
        xs = [{k: float(v) for k, v in zip(keys, xr, strict=True)} for xr in X]
        if stored is None:
            found = many(xs, n_start)
        else:
            found = [_restored(stored.iloc[r], n_start) for r in range(len(xs))]
        for r, (x, e) in enumerate(zip(xs, found, strict=True)):
            c = Candidate(len(pool), x, gen, e)
            pool.append(c)
            rows.append(_row(c, "search", 0, objectives, constraints, z))
            F[r] = [o.sign * e.values[o.metric] for o in objectives]
            G[r] = [k.violation(e.values[k.metric]) for k in constraints]
        if stored is None and checkpoint is not None:
            checkpoint(gen, pd.DataFrame(rows[first:]))
        static = StaticProblem(problem, F=F, G=G) if constraints else StaticProblem(problem, F=F)
        PymooEvaluator().eval(static, pop)
        algorithm.tell(infills=pop)
        if progress:
            progress(f"generation {gen + 1}/{generations}: {len(pool)} candidates evaluated")

    frontier, rounds, race_rows = race(
        evaluate,
        pool,
        objectives,
        constraints,
        n_start=n_start,
        n_max=n_max,
        z=z,
        max_race=max_race,
        progress=progress,
        evaluate_many=many,
    )
    return OptimizeResult(pd.DataFrame(rows + race_rows), frontier, rounds)


def race(
    evaluate: Evaluator,
    pool: Sequence[Candidate],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
    *,
    n_start: int,
    n_max: int,
    z: float = Z_RACE,
    max_race: int = MAX_RACE,
    progress: Callable[[str], None] | None = None,
    evaluate_many: ManyEvaluator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Race the candidates of ``pool`` (each evaluated with ``n_start`` trajectories).

    Returns the frontier (one row per package with its lever values, each objective's and
    constraint's value, standard error and ``z`` interval, ``n``, ``resolved``: every pair
    with the other frontier packages resolved, ``feasible_resolved``: every constraint met
    by more than ``z`` standard errors), the rounds (N, candidates alive, unresolved pairs)
    and the rows of every racing evaluation.
    """
    # Unpaired elimination first over the whole pool (cheap, conservative: under common
    # random numbers the paired error is smaller), then paired comparisons among the rest.
    evals = [c.evaluation for c in pool]
    feasible = [i for i in range(len(pool)) if not clearly_infeasible(evals[i], constraints, z)]
    # better[i, j]: how much candidate i is better than j on an objective, in unpaired SEs
    v = np.array([[-o.sign * evals[i].values[o.metric] for o in objectives] for i in feasible])
    se = np.array([[evals[i].se[o.metric] for o in objectives] for i in feasible])
    v, se = v.reshape(len(feasible), -1), se.reshape(len(feasible), -1)
    gap = v[:, None, :] - v[None, :, :]
    noise = z * np.sqrt(se[:, None, :] ** 2 + se[None, :, :] ** 2)
    tie = (gap == 0.0) & (noise == 0.0)
    beats = np.all((gap > noise) | tie, axis=2) & ~np.all(tie, axis=2)
    undominated = [feasible[k] for k in np.flatnonzero(~beats.any(axis=0))]
    ranked = _rank([evals[i] for i in undominated], objectives, constraints)
    alive = [undominated[k] for k in ranked][:max_race]
    # a candidate read back from a checkpoint has no per-trajectory values to pair on: simulate
    # it again (the same seed and N give the same numbers, so a resumed search ends as an
    # uninterrupted one)
    many = evaluate_many or _one_by_one(evaluate)
    current = {i: evals[i] for i in alive}
    stale = [i for i in alive if evals[i].restored]
    current.update(zip(stale, many([pool[i].x for i in stale], n_start), strict=True))
    n = n_start
    rounds = []
    rows: list[dict] = []
    rnd = 0
    while True:
        alive = _eliminate(alive, current, objectives, constraints, z)
        open_pairs = [
            (a, b)
            for k, a in enumerate(alive)
            for b in alive[k + 1 :]
            if not resolved(current[a], current[b], objectives, z)
        ]
        rounds.append(
            {"round": rnd, "n": n, "alive": len(alive), "unresolved_pairs": len(open_pairs)}
        )
        if progress:
            progress(
                f"racing round {rnd}: {len(alive)} candidates at N = {n:,}, "
                f"{len(open_pairs)} unresolved pairs"
            )
        if not open_pairs or n >= n_max:
            break
        n = min(2 * n, n_max)
        rnd += 1
        current.update(zip(alive, many([pool[i].x for i in alive], n), strict=True))
        for i in alive:
            c = Candidate(pool[i].id, pool[i].x, pool[i].generation, current[i])
            rows.append(_row(c, "race", rnd, objectives, constraints, z))
    final = [current[i] for i in alive]
    on_front = [alive[k] for k in point_front(final, objectives, constraints)]
    frontier = []
    for i in on_front:
        c = Candidate(pool[i].id, pool[i].x, pool[i].generation, current[i])
        row = _row(c, "frontier", rnd, objectives, constraints, z)
        row["resolved"] = all(
            resolved(current[i], current[j], objectives, z) for j in on_front if j != i
        )
        row["feasible_resolved"] = all(
            -k.violation(current[i].values[k.metric]) > z * current[i].se[k.metric]
            for k in constraints
        )
        frontier.append(row)
    frontier_frame = pd.DataFrame(frontier)
    if len(frontier_frame):
        first = objectives[0]
        frontier_frame = frontier_frame.sort_values(
            first.metric, ascending=first.sense == "min", kind="stable"
        ).reset_index(drop=True)
    return frontier_frame, pd.DataFrame(rounds), rows


def _restored(row: pd.Series, n: int) -> Evaluation:
    """An evaluation read back from a checkpoint row (estimates and errors only)."""
    metrics = [c[: -len("_se")] for c in row.index if c.endswith("_se")]
    return Evaluation(
        int(row.get("n", n)),
        {m: float(row[m]) for m in metrics},
        {m: float(row[f"{m}_se"]) for m in metrics},
        restored=True,
        ci={m: (float(row[f"{m}_ci_low"]), float(row[f"{m}_ci_high"])) for m in metrics},
    )


def _unpaired(e: Evaluation) -> Evaluation:
    return Evaluation(e.n, e.values, e.se)


def _eliminate(alive, current, objectives, constraints, z) -> list[int]:
    """Drop the candidates that clearly violate a constraint or that another clearly
    dominates (paired differences)."""
    ok = [i for i in alive if not clearly_infeasible(current[i], constraints, z)]
    return [
        i
        for i in ok
        if not any(clearly_dominates(current[j], current[i], objectives, z) for j in ok if j != i)
    ]


# ----------------------------------------------------------------------------- the command


def check_space(scenario, space: Mapping[str, tuple[float, float]], option: str = "--range"):
    """Every searched name is a numeric lever, its range inside the lever's domain, and not
    set by the scenario's posterior (which would override it)."""
    from levercast.scenario import registry

    fitted = set() if scenario.posterior is None else set(scenario.posterior.names)
    for name, (lo, hi) in space.items():
        p = registry.PARAM_BY_NAME.get(name)
        if p is None or p.kind != registry.LEVER or p.is_choice:
            levers = ", ".join(q.name for q in registry.LEVERS if not q.is_choice)
            raise OptimizeError(f"{option} {name}: expected a numeric lever, one of {levers}")
        dlo, dhi = p.domain
        if not (dlo <= lo < hi <= dhi):
            raise OptimizeError(
                f"{option} {name}={lo:g}:{hi:g}: expected low < high inside the lever's domain "
                f"[{dlo:g}, {dhi:g}] ({p.unit})"
            )
        if name in fitted:
            raise OptimizeError(
                f"{option} {name}: set by the scenario's posterior ({scenario.posterior.file}), "
                "which would override the searched value"
            )


def run_optimize(
    scenario,
    space: Mapping[str, tuple[float, float]],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    out_dir,
    *,
    n_start: int,
    n_max: int,
    pop_size: int,
    generations: int,
    seed: int,
    horizon: int | None = None,
    threads: int | None = None,
    force: bool = False,
    resume: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> OptimizeResult:
    """Search, race and write ``out_dir``: the manifest ``_optimize.json`` first, each search
    generation as it finishes (``search/generation=<g>/part-0.parquet``), then
    ``candidates.parquet`` (every evaluation), ``frontier.parquet`` (the raced frontier with
    intervals) and ``rounds.parquet``. With ``resume``, the finished generations of an
    interrupted run are read back instead of simulated (racing is redone: it needs the
    per-trajectory values), and the result is the same as an uninterrupted run's."""
    from pathlib import Path

    from levercast import __version__
    from levercast.results import store

    horizon = int(scenario.horizon_weeks if horizon is None else horizon)
    simulate.check_limits(n_start, horizon)
    simulate.check_limits(n_max, horizon)
    check_space(scenario, space)
    if backend not in ("local", "dask"):
        raise OptimizeError(f"--backend must be 'local' or 'dask', got {backend!r}")
    out_dir = Path(out_dir)
    manifest = {
        "format": 1,
        "scenario_name": scenario.name,
        "scenario_sha256": scenario.sha256,
        "objectives": [str(o) for o in objectives],
        "constraints": [str(c) for c in constraints],
        "ranges": {k: list(v) for k, v in space.items()},
        "seed": seed,
        "trajectories": n_start,
        "max_trajectories": n_max,
        "population": pop_size,
        "generations": generations,
        "horizon_weeks": horizon,
        "z": Z_RACE,
        "levercast_version": __version__,
    }
    restore = _prepare_folder(out_dir, manifest, resume, force)
    meta = store.run_metadata(scenario, seed, n_start, horizon)
    meta.update({k: manifest[k] for k in ("objectives", "constraints", "ranges")})

    def checkpoint(gen: int, rows: pd.DataFrame) -> None:
        store.write_parquet(rows, store.optimize_generation_path(out_dir, gen), meta)

    keep = tuple(dict.fromkeys(o.metric for o in objectives))
    evaluate = model_evaluator(scenario, seed, horizon, threads, keep)
    settings = dict(
        pop_size=pop_size,
        generations=generations,
        n_start=n_start,
        n_max=n_max,
        seed=seed,
        progress=progress,
        restore=restore,
        checkpoint=checkpoint,
    )
    if backend == "local":
        result = search(evaluate, space, objectives, constraints, **settings)
    else:
        from levercast.sweep.runner import dask_client

        with dask_client(scheduler, workers, threads or 1) as client:
            many = dask_evaluator(client, scenario, seed, horizon, keep)
            result = search(
                evaluate, space, objectives, constraints, evaluate_many=many, **settings
            )
    frames = {
        "candidates": result.candidates,
        "frontier": result.frontier,
        "rounds": result.rounds,
    }
    store.write_optimize(out_dir, frames, meta)
    return result


_RESUME_KEYS = (
    "scenario_sha256",
    "objectives",
    "constraints",
    "ranges",
    "seed",
    "trajectories",
    "max_trajectories",
    "population",
    "generations",
    "horizon_weeks",
)


def _prepare_folder(out_dir, manifest: dict, resume: bool, force: bool) -> dict:
    """Create (or, with ``resume``, check and clean) the optimize folder; return the finished
    generations to restore."""
    import json
    import shutil

    from levercast.results import store

    path = out_dir / store.OPTIMIZE_MANIFEST
    if resume and out_dir.exists():
        if not path.is_file():
            raise OptimizeError(f"{out_dir} has no {store.OPTIMIZE_MANIFEST}: nothing to resume")
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OptimizeError(f"cannot read {path}: {exc}") from exc
        for key in _RESUME_KEYS:
            if old.get(key) != manifest[key]:
                raise OptimizeError(
                    f"cannot resume into {out_dir}: its {key} ({old.get(key)}) differs from "
                    f"this search's ({manifest[key]}); use another --out or --force to start over"
                )
        store.remove_temporaries(out_dir)
        return store.read_optimize_checkpoints(out_dir)
    store.check_target(out_dir, force)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    store.write_json(manifest, path)
    return {}
