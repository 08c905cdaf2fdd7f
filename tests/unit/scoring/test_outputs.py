"""The score's event ids and churn drivers against their plain definitions.

`scoring.outputs` builds them for every published score without the plain
version's intermediate lists and key functions; these references are the
definitions they must match, on random histories, at every step.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from schemas.events import Event
from schemas.outputs import Driver
from scoring import default_churn_model, load_config
from scoring.churn import contributions
from scoring.evaluate import evaluate
from scoring.facts import Evidence
from scoring.outputs import (
    SIGNAL_SOURCES,
    churn_drivers,
    event_ids,
)
from tests.unit.scoring.factory import run
from tests.unit.scoring.strategies import histories

CONFIG = load_config()
MODEL = default_churn_model(CONFIG)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_event_ids(evidence: Evidence, signal: str, n: int) -> tuple[str, ...]:
    if n <= 0:
        return ()
    pairs = sorted(p for source in SIGNAL_SOURCES[signal] for p in evidence.get(source, ()))
    return tuple(event_id for _, event_id in reversed(pairs[-n:]))


def reference_churn_drivers(values: tuple[float | None, ...], features: tuple[float, ...], n: int):  # type: ignore[no-untyped-def]
    """Churn drivers are named by churn feature and carry the feature's value."""
    parts = contributions(MODEL, features)
    order = sorted(range(len(parts)), key=lambda i: -abs(parts[i]))[:n]
    return tuple(
        Driver(
            signal=MODEL.features[i],
            value=round(features[i], 4),
            weight=round(MODEL.coefficients[i], 4),
            effect=round(parts[i], 4),
            event_ids=(),
        )
        for i in order
        if parts[i] != 0.0
    )


@FAST
@given(histories())
def test_event_ids_and_churn_drivers_match_their_definitions_at_every_step(
    events: list[Event],
) -> None:
    _, steps = run(events, CONFIG, MODEL)
    checked = 0
    for step in steps:
        state = step.state
        if state.clock.max_ts is None:
            continue
        ev = evaluate(state, CONFIG, MODEL)
        evidence = state.evidence
        for signal in SIGNAL_SOURCES:
            for n in (0, 1, 2, 5):
                assert event_ids(evidence, signal, n) == reference_event_ids(evidence, signal, n)
        for n in (1, 3, CONFIG.health.max_drivers):
            assert churn_drivers(ev, MODEL, n) == reference_churn_drivers(ev.values, ev.features, n)
        checked += 1
    assert checked or not steps
