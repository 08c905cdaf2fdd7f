"""Customer happiness: the continuum from walkaway angry (-1) to gushing promoter (+1), seed 002.

Four parts, each on -1..1 and each None without data, combined as a
weighted mean over the known parts:

* nps: (promoters - detractors) / responses, decayed. A promoter answer can
  only raise it, so a promoter never lowers happiness.
* csat: (mean CSAT - 3) / 2, decayed.
* support: minus ticket pressure against the account's own baseline,
  minus penalties for escalations, reopenings and open tickets.
* feedback: mean sentiment of feedback (-1 negative, 0 neutral, 1 positive), decayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from scoring.config import ScoringConfig
from scoring.decay import DAYS_PER_MONTH, EMPTY, Series
from scoring.facts import SupportFacts


class HappinessParts(NamedTuple):
    nps: float | None
    csat: float | None
    support: float | None
    feedback: float | None


def _clamp(x: float) -> float:
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


def _ratio(num: Series, den: Series, now_day: int, half_life: float) -> float | None:
    total = den.value(now_day, 0, half_life)
    if total <= 0.0:
        return None
    return num.value(now_day, 0, half_life) / total


def nps_part(series: Mapping[str, Series], now_day: int, config: ScoringConfig) -> float | None:
    h = config.half_lives_days.nps
    responses = series.get("nps_responses", EMPTY).value(now_day, 0, h)
    if responses <= 0.0:
        return None
    promoters = series.get("nps_promoters", EMPTY).value(now_day, 0, h)
    detractors = series.get("nps_detractors", EMPTY).value(now_day, 0, h)
    return _clamp((promoters - detractors) / responses)


def csat_part(series: Mapping[str, Series], now_day: int, config: ScoringConfig) -> float | None:
    h = config.half_lives_days.csat
    mean = _ratio(series.get("csat_sum", EMPTY), series.get("csat_count", EMPTY), now_day, h)
    return None if mean is None else _clamp((mean - 3.0) / 2.0)


def feedback_part(
    series: Mapping[str, Series], now_day: int, config: ScoringConfig
) -> float | None:
    h = config.half_lives_days.feedback
    mean = _ratio(
        series.get("feedback_sum", EMPTY), series.get("feedback_count", EMPTY), now_day, h
    )
    return None if mean is None else _clamp(mean - 1.0)  # sentiment is stored as 0, 1, 2


def open_tickets(support: SupportFacts) -> int:
    """Tickets whose latest status is open (`scoring.reducers.support`)."""
    return sum(1 for t in support.tickets.values() if t.open)


def _observed_rate(
    series: Series, now_day: int, index: int, half_life: float, days: float | None
) -> float:
    """The per-day rate a decayed sum implies after `days` of observation: a constant
    rate r seen for T days sums to r x h / ln 2 x (1 - 2^(-T/h)), so a young history
    is divided by that share instead of read as a rate over all time."""
    rate = series.rate(now_day, index, half_life)
    if days is None:
        return rate
    covered: float = 1.0 - 0.5 ** (days / half_life)
    return rate / covered


def support_part(
    support: SupportFacts,
    series: Mapping[str, Series],
    now_day: int,
    config: ScoringConfig,
    first_day: int | None = None,
) -> float | None:
    """-pressure - penalties; pressure = (short - baseline) / (short + baseline + 2 prior).

    Both rates are read over the days the account has been seen (from `first_day`,
    its first event of any family): until its history covers the baseline's
    half-life, an account's baseline is what it has shown so far, so a first ticket
    is its rate, not a burst above an empty past. None: a history as long as the
    half-lives."""
    tickets = series.get("tickets", EMPTY)
    escalations = series.get("escalations", EMPTY)
    reopenings = series.get("reopenings", EMPTY)
    if tickets.is_empty and escalations.is_empty and reopenings.is_empty and not support.resolved:
        return None
    hl, hp = config.half_lives_days, config.happiness
    days = None if first_day is None else float(max(now_day - first_day + 1, 1))
    short = _observed_rate(tickets, now_day, 0, hl.tickets_short, days)
    baseline = _observed_rate(tickets, now_day, 1, hl.tickets_baseline, days)
    prior = hp.ticket_prior_per_month / DAYS_PER_MONTH
    pressure = (
        (short - baseline) / (short + baseline + 2.0 * prior)
        if short + baseline + prior > 0
        else 0.0
    )
    penalty = (
        hp.escalation_penalty * escalations.value(now_day, 0, hl.escalations)
        + hp.reopening_penalty * reopenings.value(now_day, 0, hl.reopenings)
        + hp.open_ticket_penalty * min(open_tickets(support), hp.open_ticket_cap)
    )
    return _clamp(-pressure - penalty)


def happiness_parts(
    support: SupportFacts,
    series: Mapping[str, Series],
    now_day: int,
    config: ScoringConfig,
    first_day: int | None = None,
) -> HappinessParts:
    return HappinessParts(
        nps_part(series, now_day, config),
        csat_part(series, now_day, config),
        support_part(support, series, now_day, config, first_day),
        feedback_part(series, now_day, config),
    )


def customer_happiness(parts: HappinessParts, config: ScoringConfig) -> float | None:
    """Weighted mean of the known parts (-1..1)."""
    w = config.happiness.weights
    weights = (w.nps, w.csat, w.support, w.feedback)
    num = den = 0.0
    for value, weight in zip(parts, weights, strict=True):
        if value is not None and weight > 0.0:
            num += weight * value
            den += weight
    return None if den == 0.0 else _clamp(num / den)
