"""Erlang B, C and A: what a forecast of contacts means for the number of agents on the phones.

Pure functions of plain numbers, no I/O. The formulas are those of docs/sla.md,
section 11 (staffing): traffic A = λ·h / L Erlangs offered to N agents.
Times are in seconds throughout.

Erlang C and A work from Erlang B's recursion, never from powers and factorials, so
they stay exact to double precision for thousands of agents, where A^N / N! would
overflow long before (171! is already beyond a float).
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "ErlangAResult",
    "StaffingResult",
    "agents_required",
    "average_speed_of_answer",
    "combined_shrinkage",
    "erlang_a",
    "erlang_b",
    "occupancy",
    "probability_of_waiting",
    "scheduled_agents",
    "service_level",
    "traffic_erlangs",
]


@dataclass(frozen=True)
class StaffingResult:
    """The smallest team meeting a service-level target, and what it achieves."""

    agents: int
    traffic: float
    service_level: float
    asa_seconds: float
    occupancy: float
    probability_of_waiting: float


@dataclass(frozen=True)
class ErlangAResult:
    """What N agents achieve when callers hang up after an exponential patience (Erlang A)."""

    probability_of_waiting: float
    probability_of_abandoning: float
    service_level: float
    mean_wait_seconds: float
    occupancy: float


# --- Erlang B and C --------------------------------------------------------------------------


def erlang_b(traffic: float, agents: int) -> float:
    """Probability that a contact finds all agents busy when nobody queues (Erlang B).

    Rule: B₀ = 1, Bₖ = A·Bₖ₋₁ / (k + A·Bₖ₋₁) for k = 1 … N. Every step stays in [0, 1],
    so the recursion neither overflows nor loses precision for large N.
    """
    _check_traffic(traffic)
    _check_agents(agents)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = _next_erlang_b(traffic, k, blocking)
    return blocking


def probability_of_waiting(traffic: float, agents: int) -> float:
    """Probability that a contact has to wait for an agent (Erlang C).

    Rule: P_w = N·B_N / (N − A·(1 − B_N)) with B_N from Erlang B; with N ≤ A the queue
    grows without bound and every contact waits, so the answer is 1.0.
    """
    _check_traffic(traffic)
    _check_agents(agents)
    if agents <= traffic:
        return 1.0
    return _erlang_c(traffic, agents, erlang_b(traffic, agents))


def service_level(traffic: float, agents: int, target_seconds: float, handle_seconds: float) -> float:
    """Share of contacts answered within the target time (Erlang C).

    Rule: SL(T) = 1 − P_w·e^(−(N − A)·T / h); 0.0 when N ≤ A (nobody can be promised
    anything by an ever-growing queue).
    """
    _check_non_negative("target_seconds", target_seconds)
    _check_positive("handle_seconds", handle_seconds)
    _check_traffic(traffic)
    _check_agents(agents)
    if agents <= traffic:
        return 0.0
    p_wait = probability_of_waiting(traffic, agents)
    return _service_level(p_wait, traffic, agents, target_seconds, handle_seconds)


def average_speed_of_answer(traffic: float, agents: int, handle_seconds: float) -> float:
    """Mean wait in seconds over all contacts, those answered at once included (Erlang C).

    Rule: ASA = P_w·h / (N − A); infinite when N ≤ A.
    """
    _check_positive("handle_seconds", handle_seconds)
    _check_traffic(traffic)
    _check_agents(agents)
    if agents <= traffic:
        return math.inf
    return probability_of_waiting(traffic, agents) * handle_seconds / (agents - traffic)


def occupancy(traffic: float, agents: int) -> float:
    """Share of the agents' logged-in time spent handling contacts.

    Rule: A / N. A value above 1 means the agents cannot keep up: the queue grows without
    bound, and their real occupancy is 100 %.
    """
    _check_traffic(traffic)
    _check_agents(agents)
    if agents == 0:
        raise ValueError("agents must be at least 1 to have an occupancy")
    return traffic / agents


def traffic_erlangs(contacts: float, interval_seconds: float, handle_seconds: float) -> float:
    """Offered traffic in Erlangs: how many agents would be busy on average with no idle time.

    Rule: A = λ·h / L, λ contacts arriving in an interval of L seconds, h seconds each.
    """
    _check_non_negative("contacts", contacts)
    _check_positive("interval_seconds", interval_seconds)
    _check_positive("handle_seconds", handle_seconds)
    return contacts * handle_seconds / interval_seconds


def agents_required(
    contacts: float,
    interval_seconds: float,
    handle_seconds: float,
    target_seconds: float,
    service_level_target: float,
    max_occupancy: float = 1.0,
) -> StaffingResult:
    """Fewest agents who answer the target share of contacts within the target time (Erlang C).

    Rule: the smallest N > A with SL(T) ≥ target and A / N ≤ max_occupancy. No contacts
    need no agents (service level 1.0, ASA 0). A target of exactly 1.0 is met only once
    P_w·e^(−(N − A)·T / h) falls below double precision. The cost grows with √A, not A
    (figures: docs/benchmarks.md, Staffing).
    """
    traffic = traffic_erlangs(contacts, interval_seconds, handle_seconds)
    _check_non_negative("target_seconds", target_seconds)
    _check_share("service_level_target", service_level_target)
    _check_share("max_occupancy", max_occupancy)
    if traffic == 0:
        return StaffingResult(
            agents=0, traffic=0.0, service_level=1.0, asa_seconds=0.0, occupancy=0.0, probability_of_waiting=0.0
        )
    # SL(N) rises with N, so the answer is the larger of two bounds: the first N > A meeting the
    # service level, and the fewest agents the occupancy cap allows. The first is found by walking
    # up from ⌊A⌋ + 1, carrying B_N along (one recursion step per agent); it lies within a few
    # √A of A, where B_N is still above 1e-300. The walk never starts from N = 1 (A steps wasted)
    # nor walks up to a high occupancy bound (10 A for a 10 % cap): see _blocking_at.
    agents = math.floor(traffic) + 1
    blocking = _erlang_b_just_above(traffic, agents)
    while True:
        p_wait = _erlang_c(traffic, agents, blocking)
        if _service_level(p_wait, traffic, agents, target_seconds, handle_seconds) >= service_level_target:
            break
        agents += 1
        blocking = _next_erlang_b(traffic, agents, blocking)
    capped = _fewest_within_occupancy(traffic, max_occupancy)
    if capped > agents:
        blocking = _blocking_at(traffic, capped, agents, blocking)
        agents = capped
    p_wait = _erlang_c(traffic, agents, blocking)
    return StaffingResult(
        agents=agents,
        traffic=traffic,
        service_level=_service_level(p_wait, traffic, agents, target_seconds, handle_seconds),
        asa_seconds=p_wait * handle_seconds / (agents - traffic),
        occupancy=traffic / agents,
        probability_of_waiting=p_wait,
    )


# Up to this many agents Erlang B comes from its recursion from B₀ (at most this many cheap steps).
_RECURSION_LIMIT = 10_000
# log of a value below the smallest positive double (4.9e-324): such a B_N is 0.0.
_LOG_UNDERFLOW = -746.0


def _erlang_b_just_above(traffic: float, agents: int) -> float:
    """B_N for N = ⌊A⌋ + 1 without walking the recursion from B₀ (2.4 million steps at 2.4 M Erlangs).

    Rule: 1/B_N = Σ_(j=0..N) Π_(i<j) (N − i)/A (the recursion unrolled). With N ≤ A + 1 every
    term after the second is below the one before it and none exceeds 2, so the sum neither
    overflows nor cancels; it stops once a term no longer changes it (after about 9·√A terms).
    """
    if agents <= _RECURSION_LIMIT:
        blocking = 1.0
        for k in range(1, agents + 1):
            blocking = _next_erlang_b(traffic, k, blocking)
        return blocking
    total, term = 1.0, 1.0
    for j in range(1, agents + 1):
        term *= (agents - j + 1) / traffic
        total += term
        if term < total * 1e-18:
            break
    return 1.0 / total


def _fewest_within_occupancy(traffic: float, max_occupancy: float) -> int:
    """The smallest N with A / N ≤ max_occupancy, by the very comparison the result is judged with."""
    agents = max(1, math.ceil(traffic / max_occupancy))
    while agents > 1 and traffic / (agents - 1) <= max_occupancy:
        agents -= 1
    while traffic / agents > max_occupancy:
        agents += 1
    return agents


def _blocking_at(traffic: float, agents: int, known_agents: int, known_blocking: float) -> float:
    """B_N for N above an N₀ whose B is known: 0.0 when it lies below every double, else the recursion.

    Rule: for N ≥ A, B_N ≤ 2·A^N·e^(−A) / N! (the Poisson(A) law puts at least half its mass at
    or below N), so once that bound is under the smallest double, B_N is 0.0 exactly as the
    recursion would underflow to it; otherwise N is within about 40·√A of A and the steps are few.
    """
    if math.log(2) + agents * math.log(traffic) - traffic - math.lgamma(agents + 1) < _LOG_UNDERFLOW:
        return 0.0
    blocking = known_blocking
    for k in range(known_agents + 1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


# --- Shrinkage -------------------------------------------------------------------------------


def combined_shrinkage(shrinkage: float | Sequence[float]) -> float:
    """Share of paid time lost to breaks, training, absence… when its components compound.

    Rule: s = 1 − Π(1 − sᵢ); each sᵢ in [0, 1). Components apply to the time the previous
    ones left (10 % absence, then 20 % of the remaining time in training, is 28 %).
    """
    return float(_combined_shrinkage(shrinkage))


def scheduled_agents(required: int, shrinkage: float | Sequence[float]) -> int:
    """Agents to put on the rota so that the required number is actually available.

    Rule: ⌈N / (1 − s)⌉ with s the shrinkage, or the combination 1 − Π(1 − sᵢ) of a list.
    """
    if isinstance(required, bool) or not isinstance(required, int) or required < 0:
        raise ValueError(f"required must be a whole number of agents, at least 0, got {required!r}")
    available = 1 - _combined_shrinkage(shrinkage)
    # Exact arithmetic: in floats 14 / (1 − 0.3) is 20.000000000000004 and would round up to 21.
    return math.ceil(Fraction(required) / available)


def _combined_shrinkage(shrinkage: float | Sequence[float]) -> Fraction:
    if isinstance(shrinkage, int | float):
        components = [shrinkage]
    elif isinstance(shrinkage, Sequence) and not isinstance(shrinkage, str):
        components = list(shrinkage)
    else:
        raise ValueError(f"shrinkage must be a number or a list of numbers, got {shrinkage!r}")
    kept = Fraction(1)
    for component in components:
        if isinstance(component, bool) or not isinstance(component, int | float) or not 0 <= component < 1:
            raise ValueError(f"shrinkage must be a number in [0, 1), got {component!r}")
        # Shrinkage is typed as a percentage: read 0.3 as the 3/10 it was written as, not as
        # the binary float just below it, so that whole answers stay whole.
        kept *= 1 - Fraction(repr(float(component)))
    return 1 - kept


# --- Erlang A (abandonment) ------------------------------------------------------------------


def erlang_a(
    traffic: float, agents: int, handle_seconds: float, patience_seconds: float, target_seconds: float
) -> ErlangAResult:
    """What N agents achieve when each waiting caller hangs up after an exponential patience (Erlang A).

    Rule (Palm's M/M/N+M queue): a birth–death chain with arrivals λ = A / h, and departures
    min(n, N)/h + max(n − N, 0)/θ in state n, θ the mean patience. From its stationary law:
    P_w = P(n ≥ N); P(abandon) = E[queue] / (λ·θ); occupancy = A·(1 − P(abandon)) / N;
    mean wait over all callers, abandoners included = E[queue] / λ (Little). The service
    level counts a caller as met only if answered within T (abandoners fail, as in the
    `answered_of_offered` convention): a caller finding j others waiting is answered with
    probability b / (b + j + 1), b = N·θ / h, after a sum of exponentials with rates
    (b + k)/θ, k = 1 … j + 1, whose distribution is that of −θ·ln Y, Y ~ Beta(b + 1, j + 1).
    Unlike Erlang C it is stable for any N ≥ 1, also when N ≤ A.
    """
    _check_traffic(traffic)
    _check_agents(agents)
    if agents == 0:
        raise ValueError("agents must be at least 1 for Erlang A")
    _check_positive("handle_seconds", handle_seconds)
    _check_positive("patience_seconds", patience_seconds)
    _check_non_negative("target_seconds", target_seconds)
    if traffic == 0:
        return ErlangAResult(
            probability_of_waiting=0.0,
            probability_of_abandoning=0.0,
            service_level=1.0,
            mean_wait_seconds=0.0,
            occupancy=0.0,
        )
    blocking = erlang_b(traffic, agents)
    if blocking == 0.0:
        # All N busy has a probability below the smallest float: nobody waits, nobody leaves.
        return ErlangAResult(
            probability_of_waiting=0.0,
            probability_of_abandoning=0.0,
            service_level=1.0,
            mean_wait_seconds=0.0,
            occupancy=traffic / agents,
        )

    # Stationary weights relative to π_N = 1: states below N weigh 1/B_N − 1 together (Erlang
    # B), and q_j = π_(N+j) = Π_(i=1..j) A / (N + i·r), r = h / θ. Kept as logarithms, since
    # an understaffed queue can hold thousands of callers and q_j then exceeds any float.
    ratio = handle_seconds / patience_seconds
    log_weights = [0.0]  # log q_0, the state "all agents busy, nobody waiting"
    log_mass = 0.0  # log Σ q_j so far
    j = 0
    while True:
        j += 1
        step = math.log(traffic / (agents + j * ratio))
        log_weights.append(log_weights[-1] + step)
        log_mass = _log_add(log_mass, log_weights[-1])
        # Past the mode (step < 0) the weights fall at least geometrically; stop once the
        # newest is 40 nats (≈ 4e-18) below the mass already gathered.
        if step < 0 and log_weights[-1] < log_mass - 40:
            break

    log_below = math.log1p(-blocking) - math.log(blocking)  # log Σ_(n<N) π_n / π_N
    log_total = _log_add(log_below, log_mass)
    weights = [math.exp(lw - log_total) for lw in log_weights]  # P(n = N + j)
    p_wait = math.fsum(weights)
    queue = math.fsum(j * w for j, w in enumerate(weights))
    p_abandon = queue * ratio / traffic
    served_within = 1.0 - p_wait
    if target_seconds > 0:
        served_within += math.fsum(
            w * g
            for w, g in zip(weights, _answered_within(agents, ratio, target_seconds / patience_seconds), strict=False)
        )
    return ErlangAResult(
        probability_of_waiting=_clamp(p_wait),
        probability_of_abandoning=_clamp(p_abandon),
        service_level=_clamp(served_within),
        mean_wait_seconds=queue * handle_seconds / traffic,
        occupancy=traffic * (1 - p_abandon) / agents,
    )


def _answered_within(agents: int, ratio: float, target_in_patiences: float) -> Iterator[float]:
    """Yield, for j = 0, 1, …, P(a caller who finds j others waiting is answered within T).

    P = b / (b + j + 1) · (1 − I_x(b + 1, j + 1)), x = e^(−T/θ), b = N / r; for a whole second
    argument I_x(β, m) = Σ_(i<m) x^β·Γ(β + i) / (Γ(β)·i!)·(1 − x)^i, a sum of positive
    negative-binomial terms, accumulated in logarithms so no term overflows.
    """
    b = agents / ratio
    log_one_minus_x = math.log(-math.expm1(-target_in_patiences))
    log_term = -(b + 1) * target_in_patiences  # log of the i = 0 term, x^(b+1)
    cumulative = 0.0
    i = 0
    while True:
        cumulative += math.exp(log_term)
        yield b / (b + i + 1) * max(0.0, 1.0 - cumulative)
        i += 1
        log_term += math.log(b + i) - math.log(i) + log_one_minus_x


# --- Helpers ---------------------------------------------------------------------------------


def _next_erlang_b(traffic: float, k: int, previous: float) -> float:
    return traffic * previous / (k + traffic * previous)


def _erlang_c(traffic: float, agents: int, blocking: float) -> float:
    return agents * blocking / (agents - traffic * (1 - blocking))


def _service_level(p_wait: float, traffic: float, agents: int, target_seconds: float, handle_seconds: float) -> float:
    return _clamp(1 - p_wait * math.exp(-(agents - traffic) * target_seconds / handle_seconds))


def _log_add(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def _clamp(value: float) -> float:
    # Rounding can leave a probability a few ulps outside [0, 1].
    return min(1.0, max(0.0, value))


def _check_traffic(traffic: float) -> None:
    _check_non_negative("traffic", traffic)


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
        raise ValueError(f"agents must be a whole number, at least 0, got {agents!r}")


def _check_number(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    _check_number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    _check_number(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value!r}")


def _check_share(name: str, value: float) -> None:
    _check_number(name, value)
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
