"""The clock (docs/scoring.md, "The clock"): `scoring.tick` re-scores a silent account."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from schemas.outputs import Alert
from scoring import ChurnModel, ScoringConfig, StepResult, is_too_late, process, tick
from scoring.config_load import config_from_mapping, packaged_defaults
from scoring.decay import DAY, day_of
from scoring.engine import tick_id
from scoring.state import AccountState
from tests.unit.scoring.factory import at, make, run
from tests.unit.scoring.scripts import healthy

ACTIVE_DAYS = 40
SILENT_DAYS = 30


def ticked(
    config: ScoringConfig, model: ChurnModel, days: Iterable[int], state: AccountState
) -> tuple[AccountState, list[StepResult]]:
    """One tick at the start of each day (the end of the day before)."""
    steps = []
    for day in days:
        step = tick(state, at(day).timestamp(), config, model)
        state = step.state
        steps.append(step)
    return state, steps


def silent_scenario(
    config: ScoringConfig, model: ChurnModel
) -> tuple[list[StepResult], list[StepResult]]:
    """Active daily for 40 days (days 0-39), then silent for 30 (days 40-69): one tick at
    the end of each silent day, the last at the start of day 70."""
    state, active = run(healthy(days=ACTIVE_DAYS), config, model)
    assert state is not None
    state, silent = ticked(config, model, range(ACTIVE_DAYS, ACTIVE_DAYS + SILENT_DAYS + 1), state)
    return active, silent


def test_a_silent_account_falls_day_after_day_then_raises_one_episode(
    config: ScoringConfig, model: ChurnModel
) -> None:
    active, silent = silent_scenario(config, model)
    before = active[-1].score
    assert before is not None and before.band == "green"
    healths = [before.health] + [s.score.health for s in silent if s.score is not None]
    assert len(healths) == SILENT_DAYS + 2  # the last event's score, then 31 ticks
    assert all(b < a for a, b in itertools.pairwise(healths)), healths
    bands = [t for s in silent for t in s.transitions if t.kind == "health_band"]
    assert [(t.from_value, t.to_value) for t in bands] == [("green", "yellow")]

    alerts: list[Alert] = [a for s in silent for a in s.alerts]
    assert sorted(a.kind for a in alerts) == ["gone_quiet", "health_drop"], alerts
    quiet = next(a for a in alerts if a.kind == "gone_quiet")
    last_use = ACTIVE_DAYS - 1
    # silent days 40..46 are seven full days: the tick at the start of day 47 raises it
    assert day_of(quiet.ts.timestamp()) == day_of(at(last_use).timestamp()) + 1 + 7
    assert quiet.dedupe_key == "acct-1:gone_quiet:" + at(last_use).date().isoformat()
    assert quiet.event_id == tick_id(quiet.ts.timestamp())
    assert {d.signal for d in quiet.drivers} <= {
        "feature_breadth",
        "feature_depth",
        "velocity",
        "adoption",
    }
    assert quiet.drivers and quiet.severity and "no product usage for 7 days" in quiet.message


def test_trends_and_freshness_move_on_ticks(config: ScoringConfig, model: ChurnModel) -> None:
    _, silent = silent_scenario(config, model)
    scores = [s.score for s in silent if s.score is not None]
    assert all(s.trend_7d is not None and s.trend_30d is not None for s in scores)
    assert all(s.trend_7d < 0 for s in scores)  # type: ignore[operator]
    fresh = [s.freshness_days for s in scores]
    assert all(b > a for a, b in itertools.pairwise(fresh)), fresh  # type: ignore[operator]


def test_a_replay_gives_identical_outputs(config: ScoringConfig, model: ChurnModel) -> None:
    def dump() -> list[bytes]:
        _, silent = silent_scenario(config, model)
        out = []
        for s in silent:
            out.append(s.state.to_bytes())
            out.append(s.score.model_dump_json().encode() if s.score else b"")
            out += [a.model_dump_json().encode() for a in s.alerts]
            out += [t.model_dump_json().encode() for t in s.transitions]
        return out

    assert dump() == dump()


def test_a_tick_never_makes_a_later_event_too_late(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state, _ = run(healthy(days=10), config, model)
    assert state is not None
    ahead = at(30).timestamp()  # far past the 48 h lateness
    state = tick(state, ahead, config, model).state
    assert state.clock.max_ts == ahead
    late_but_in_family = make("feature_used", 10.2, event_id="x1", user_id="u0", feature="f0")
    assert not is_too_late(state, late_but_in_family, config)
    step = process(state, late_but_in_family, config, model)
    assert (
        step.score is not None and step.state.clock.events_applied == state.clock.events_applied + 1
    )
    assert step.state.clock.max_ts == ahead  # still evaluated at the tick's time


def test_a_tick_not_after_the_evaluation_time_changes_nothing(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state, _ = run(healthy(days=5), config, model)
    assert state is not None and state.clock.max_ts is not None
    for ts in (state.clock.max_ts, state.clock.max_ts - DAY):
        step = tick(state, ts, config, model)
        assert step.state is state and step.score is None and not step.emit and not step.alerts


def test_no_gone_quiet_without_a_habit(config: ScoringConfig, model: ChurnModel) -> None:
    young, _ = run(healthy(days=10), config, model)  # observed 9 days < baseline_days 14
    assert young is not None
    _, steps = ticked(config, model, range(11, 40), young)
    assert not [a for s in steps for a in s.alerts if a.kind == "gone_quiet"]

    data = packaged_defaults()
    data["gone_quiet"] = {**data["gone_quiet"], "min_baseline_per_day": 1000.0}
    strict = config_from_mapping(data)
    state, _ = run(healthy(days=ACTIVE_DAYS), strict, model)  # 48 a day < 1000
    assert state is not None
    _, steps = ticked(strict, model, range(41, 60), state)
    assert not [a for s in steps for a in s.alerts if a.kind == "gone_quiet"]


def test_usage_resuming_ends_the_episode_and_a_new_silence_is_a_new_one(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, silent = silent_scenario(config, model)
    state = silent[-1].state
    for day in range(72, 92):
        state = process(
            state,
            make("feature_used", day + 0.4, event_id=f"r{day}", user_id="u0", feature="f0"),
            config,
            model,
        ).state
    state, steps = ticked(config, model, range(93, 105), state)
    quiet = [a for s in steps for a in s.alerts if a.kind == "gone_quiet"]
    assert len(quiet) == 1
    assert quiet[0].dedupe_key == "acct-1:gone_quiet:" + at(91).date().isoformat()


def test_usage_signals_never_rise_during_a_silence(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, silent = silent_scenario(config, model)
    for signal in ("feature_breadth", "feature_depth", "velocity", "adoption"):
        values = [s.score.signals[signal] for s in silent if s.score is not None]
        assert all(b <= a for a, b in itertools.pairwise(values)), (signal, values)  # type: ignore[operator]


def test_gone_quiet_starts_on_a_tick_only(config: ScoringConfig, model: ChurnModel) -> None:
    """A payment 10 days after the last usage (a billing topic read ahead of the usage
    topic looks the same) raises nothing; the tick at the same time does."""
    state, _ = run(healthy(days=ACTIVE_DAYS), config, model)
    assert state is not None
    paid = make("invoice_paid", 50, event_id="late-pay", invoice_id="I50", amount=2000.0)
    step = process(state, paid, config, model)
    assert not [a for a in step.alerts if a.kind == "gone_quiet"]
    ticked_step = tick(step.state, at(50.5).timestamp(), config, model)
    assert [a.kind for a in ticked_step.alerts if a.kind == "gone_quiet"] == ["gone_quiet"]
    # an event keeps the condition while usage has not resumed: no second alert
    again = process(
        ticked_step.state,
        make("invoice_paid", 51, event_id="pay-51", invoice_id="I51", amount=2000.0),
        config,
        model,
    )
    assert any(c.startswith("gone_quiet:") for c in again.state.memory.conditions)
    assert not again.alerts
