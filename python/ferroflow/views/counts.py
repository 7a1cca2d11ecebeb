"""Tasks counted per state, in the order every picture's title and summary lists them."""

from __future__ import annotations

from collections.abc import Iterable

from ..model.vocabulary import State

__all__ = ["STATE_ORDER", "count_states", "counts_text", "ordered_counts"]

#: The order states are listed in summaries: outcomes first, then what is still pending.
STATE_ORDER = (
    State.FINISHED,
    State.FAILED,
    State.SKIPPED,
    State.CANCELLED,
    State.KILLED,
    State.RUNNING,
    State.PLANNED,
)


def count_states(states: Iterable[str]) -> dict[str, int]:
    """``{state: count}`` in :data:`STATE_ORDER` (see :func:`ordered_counts`)."""
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return ordered_counts(counts)


def ordered_counts(counts: dict[str, int]) -> dict[str, int]:
    """``counts`` in :data:`STATE_ORDER` (unknown states last), zeros left out."""
    rank = {state: i for i, state in enumerate(STATE_ORDER)}
    items = sorted(counts.items(), key=lambda item: (rank.get(item[0], 99), item[0]))
    return {state: n for state, n in items if n}


def counts_text(counts: dict[str, int]) -> str:
    """``finished: 3, failed: 1`` (what titles and the Jupyter summary show)."""
    return ", ".join(f"{state.lower()}: {n}" for state, n in counts.items())
