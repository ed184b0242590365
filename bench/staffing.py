"""Staffing (Erlang C) speed per slot: the bounded search against the former one-agent-at-a-time walk.

Run from the project folder:

    .venv/bin/python -m bench.staffing [--repeat 5]

Times `app.sla.erlang.agents_required` for the largest input the staffing form accepts
(100,000 contacts an hour of 86,400 s each: 2.4 million Erlangs), with no occupancy cap and with
a 10 % cap, and a middle-sized input (1,000 an hour of 3,600 s: 1,000 Erlangs). Beside each, in
the same run, the former linear search from N = 1 (kept here as the baseline) on the inputs it
finishes in seconds, and the ratio. Prints the best of --repeat runs; never asserts timings.
"""

import argparse
import math
import time

from app.sla.erlang import agents_required, traffic_erlangs

INPUTS = (
    # (label, contacts per hour, handle seconds, max occupancy, baseline too?)
    ("1,000/h x 3,600 s (1,000 E)", 1_000, 3_600, 1.0, True),
    ("1,000/h x 3,600 s, 10 % cap", 1_000, 3_600, 0.1, True),
    ("20,000/h x 3,600 s (20,000 E)", 20_000, 3_600, 1.0, True),
    ("10,000/h x 86,400 s (240,000 E)", 10_000, 86_400, 1.0, True),
    ("10,000/h x 86,400 s, 10 % cap", 10_000, 86_400, 0.1, True),
    ("100,000/h x 86,400 s (2.4 M E)", 100_000, 86_400, 1.0, False),
    ("100,000/h x 86,400 s, 10 % cap", 100_000, 86_400, 0.1, False),
)
TARGET_SECONDS, GOAL = 20, 0.8


def linear_agents_required(contacts, interval, handle, target, goal, cap) -> int:
    """The search as it was: one Erlang B recursion step per agent from N = 1 (docs/sla.md's rule as is)."""
    traffic = traffic_erlangs(contacts, interval, handle)
    blocking, agents = 1.0, 0
    while True:
        agents += 1
        blocking = traffic * blocking / (agents + traffic * blocking)
        if agents <= traffic or traffic / agents > cap:
            continue
        p_wait = agents * blocking / (agents - traffic * (1 - blocking))
        if 1 - p_wait * math.exp(-(agents - traffic) * target / handle) >= goal:
            return agents


def _best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'input':34} {'agents':>11} {'bounded ms':>11} {'linear ms':>11} {'ratio':>7}")
    for label, contacts, handle, cap, baseline in INPUTS:
        bounded, result = _best(
            lambda c=contacts, h=handle, m=cap: agents_required(c, 3600, h, TARGET_SECONDS, GOAL, m), args.repeat
        )
        linear_text, ratio_text = "—", "—"
        if baseline:
            linear, agents = _best(
                lambda c=contacts, h=handle, m=cap: linear_agents_required(c, 3600, h, TARGET_SECONDS, GOAL, m),
                max(1, args.repeat // 2),
            )
            assert agents == result.agents, (label, agents, result.agents)
            linear_text, ratio_text = f"{linear * 1000:,.1f}", f"{linear / bounded:,.0f}x"
        print(f"{label:34} {result.agents:>11,} {bounded * 1000:>11,.2f} {linear_text:>11} {ratio_text:>7}")


if __name__ == "__main__":
    main()
