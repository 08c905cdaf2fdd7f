"""Every panel, variable and alert query of the boards, on the real schema.

A synthetic portfolio goes through the real pipeline (`BatchProcessor`: decode,
dead-letter, `scoring.process`, churn learning) in worker-sized batches; its
outputs are written with the `streams.clickhouse.rows` mappers into embedded
ClickHouse (chDB). Then the queries of the committed board files are expanded
the way Grafana would (`dashboards.build.macros`) and run, with "All" and with
explicit selections. The scoring core emits no alerts yet, so alerts are
`schemas.outputs.Alert`s derived from the real transitions and scores (entered
work to keep; churn risk crossing the alert threshold).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

import scoring
from dashboards.build.alerting import CHURN_ALERT_THRESHOLD, account_rules, severity_sql
from dashboards.build.boards import BOARDS
from dashboards.build.generate import ROOT
from dashboards.build.macros import QueryContext, expand
from dashboards.build.panels import Panel
from devtools.demo.portfolio import generate
from schemas.events import FAMILY_BY_TYPE, Family, Tier
from schemas.outputs import Alert, Driver, ScoreRecord, Severity
from scoring.alerts import account_urgency, severity
from scoring.config_load import config_from_mapping
from scoring.config_sections import URGENCIES
from streams.alert_route import AlertRoute
from streams.clickhouse import connect, migrate
from streams.clickhouse.client import ClickHouse
from streams.clickhouse.rows import (
    ALERT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    SCORE_COLUMNS,
    SHADOW_COLUMNS,
    TRANSITION_COLUMNS,
    alert_row,
    dead_letter_row,
    score_row,
    shadow_row,
    transition_row,
)
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from streams.settings import Settings, load_settings

pytestmark = pytest.mark.integration

DATABASE = "hs_grafana"
ACCOUNTS, DAYS, SEED, BATCH = 60, 120, 7, 500
# business boards: five weeks of replayed history, past the 30-day readiness observation
# window, so the boards' last week has quadrant moves
EVENT_WINDOW = timedelta(days=35)
TRACK_COLUMNS = (
    "model_version", "computed_at", "examples", "positives", "auc", "brier", "bin_lower",
    "bin_predicted", "bin_observed", "bin_count",
)  # fmt: skip
SEVERITY_BY_TIER = {"must_have": Severity.HIGH, "want_to_have": Severity.MEDIUM}


# --- the data: a portfolio through the real pipeline ------------------------------


@dataclass
class Loaded:
    ch: ClickHouse
    first_ts: datetime
    account: str
    """A busy account for the account board: in work to keep, with early alerts."""
    values: dict[str, list[str]]
    """Every segment, tier and account, for explicit (non-All) selections."""
    shadows: list[scoring.ShadowScore]
    """The shadow scores written to `shadow_scores`."""


def _records(events: list[dict[str, Any]], settings: Settings) -> Iterator[RawRecord]:
    """Kafka records as producers send them, with a few broken ones to dead-letter."""
    topics = settings.input_topics
    offsets: dict[str, int] = {}

    def record(topic: str, key: bytes, value: bytes) -> RawRecord:
        offsets[topic] = offsets.get(topic, -1) + 1
        return RawRecord(topic, zlib.crc32(key) % 4, offsets[topic], key, value)

    for i, event in enumerate(events):
        family = FAMILY_BY_TYPE[event["type"]]
        key, value = event["account_id"].encode(), orjson.dumps(event)
        yield record(topics[family], key, value)
        if i % 1000 == 499:  # a producer writing to the wrong topic
            other = next(f for f in Family if f is not family)
            yield record(topics[other], key, value)
        elif i % 1000 == 749:  # ... keyed by something else than the account
            yield record(topics[family], b"tenant-7", value)
        elif i % 1000 == 999:  # ... cut off mid-message
            yield record(topics[family], key, value[: len(value) // 2])


def _alert(score: ScoreRecord, kind: str, message: str, drivers: tuple[Driver, ...]) -> Alert:
    return Alert(
        alert_id=f"{kind}:{score.event_id}",
        account_id=score.account_id,
        ts=score.ts,
        kind=kind,
        severity=SEVERITY_BY_TIER.get(score.tier.value, Severity.LOW),
        dedupe_key=f"{score.account_id}:{kind}",
        message=message,
        tier=score.tier,
        engagement=score.engagement,
        event_id=score.event_id,
        drivers=drivers,
        config_version=score.config_version,
    )


def _alerts(out: BatchOutput, before: dict[str, ScoreRecord]) -> list[Alert]:
    """Alerts a batch's real outputs call for (the scoring core emits none yet)."""
    latest = {s.account_id: s for s in out.scores}
    alerts = [
        _alert(latest[t.account_id], "entered_work_to_keep", f"entered {t.to_value}", t.drivers)
        for t in out.transitions
        if t.kind == "success_quadrant" and (t.to_value or "").startswith("work_to_keep:")
    ]
    for s in out.scores:
        old = before.get(s.account_id)
        was = old.churn_risk if old is not None and old.churn_risk is not None else 0.0
        if s.churn_risk is not None and s.churn_risk > CHURN_ALERT_THRESHOLD >= was:
            alerts.append(_alert(s, "churn_risk_high", f"churn risk {s.churn_risk:.0%}",
                                 s.churn_drivers))  # fmt: skip
    return alerts


def _track_row(row: scoring.TrackRecordRow, computed_at: datetime) -> list[Any]:
    """A track-record row as the table holds it (`streams.clickhouse.rows` has no mapper yet;
    Brier is not in TrackRecordRow, so it stays NULL; empty bins hold NaN)."""

    def nan_if_none(values: Iterator[float | None]) -> list[float]:
        return [float("nan") if v is None else v for v in values]

    bins = row.calibration
    return [
        row.model_version, computed_at, row.examples, row.positives, row.auc, None,
        [b.lower for b in bins], nan_if_none(b.mean_predicted for b in bins),
        nan_if_none(b.observed_rate for b in bins), [b.examples for b in bins],
    ]  # fmt: skip


def _leaving(start: datetime) -> list[dict[str, Any]]:
    """An account the churn model must flag (the demo's subscriptions carry no term end, so
    none of its accounts nears a renewal): a one-seat plan renewing two days after the
    data ends, used in its first week only, two invoices failed and unpaid."""

    def event(n: int, day: float, kind: str, **fields: Any) -> dict[str, Any]:
        ts = (start + timedelta(days=day)).isoformat()
        return {"event_id": f"leaving-{n}", "account_id": "acct-leaving", "ts": ts,
                "type": kind, **fields}  # fmt: skip

    end = (start + timedelta(days=DAYS + 5)).isoformat()
    events = [event(0, 0, "subscription_started", plan="starter", mrr=49.0, seats=1,
                    term_end=end)]  # fmt: skip
    events += [event(1 + d, d + 0.5, "feature_used", user_id="u1", feature="reports")
               for d in range(7)]  # fmt: skip
    events += [event(20 + i, DAYS - 10 + 5 * i, "invoice_failed", invoice_id=f"f{i}",
                     amount=49.0) for i in range(2)]  # fmt: skip
    return events


SHADOW = "candidate"


def _with_shadow(config: scoring.ScoringConfig) -> scoring.ScoringConfig:
    """`config` with a shadow scorecard: the default one leaning on customer happiness."""
    data = config.model_dump()
    card = {**data["scorecards"]["default"], "customer_happiness": 0.8}
    scorecards = {**data["scorecards"], SHADOW: card}
    return config_from_mapping({**data, "scorecards": scorecards, "shadow_scorecard": SHADOW})


def _load(ch: ClickHouse, settings: Settings) -> Loaded:
    config = _with_shadow(scoring.load_config())  # the live outputs are the same without
    model = [scoring.default_churn_model(config)]
    start = (datetime.now(UTC) - timedelta(days=DAYS + 3)).replace(microsecond=0)
    events = list(generate(accounts=ACCOUNTS, days=DAYS, seed=SEED, start=start))
    events += _leaving(start)
    families = {topic: family for family, topic in settings.input_topics.items()}
    processor = BatchProcessor(config, families, lambda: model[0])
    states: dict[str, bytes] = {}
    last: dict[str, ScoreRecord] = {}
    alerts: list[Alert] = []
    shadows: list[scoring.ShadowScore] = []
    records = list(_records(events, settings))
    for i in range(0, len(records), BATCH):
        out = processor.run(records[i : i + BATCH], states.get, states.__setitem__)
        alerts += _alerts(out, last)
        last.update((s.account_id, s) for s in out.scores)
        rows = [score_row(s) for s in out.scores]
        ch.insert("score_history", rows, SCORE_COLUMNS)
        ch.insert("latest_score", rows, SCORE_COLUMNS)
        ch.insert("shadow_scores", [shadow_row(s) for s in out.shadows], SHADOW_COLUMNS)
        shadows += out.shadows
        ch.insert("transitions", [transition_row(t) for t in out.transitions], TRANSITION_COLUMNS)
        ch.insert("dead_letters", [dead_letter_row(d) for d in out.dead_letters],
                  DEAD_LETTER_COLUMNS)  # fmt: skip
        model[0] = scoring.file_outcomes(model[0], out.examples)
    ch.insert("alerts", [alert_row(a) for a in alerts], ALERT_COLUMNS)
    now = datetime.now(UTC)
    ch.insert("churn_track_record", [_track_row(r, now) for r in scoring.track_record(model[0])],
              TRACK_COLUMNS)  # fmt: skip
    first_ts = min(datetime.fromisoformat(e["ts"]) for e in events)
    still_there = {a for a, s in last.items() if (s.success_quadrant or "").startswith("work_")}
    early = sorted(
        (a for a in alerts if a.kind == "entered_work_to_keep" and a.account_id in still_there
         and a.ts < first_ts + EVENT_WINDOW),
        key=lambda a: a.ts,
    )  # fmt: skip
    assert early, "the portfolio should put someone in work to keep early on"
    db = f"{DATABASE}.latest_score FINAL"
    values = {
        c: [r[0] for r in ch.query(f"SELECT DISTINCT {k} FROM {db} ORDER BY 1")]
        for c, k in (("segment", "segment"), ("tier", "tier"), ("account", "account_id"))
    }
    return Loaded(ch, first_ts, early[0].account_id, values, shadows)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("grafana"), clickhouse_database=DATABASE
    )
    with connect(settings) as ch:  # chDB: one data directory per process, so close it
        migrate(ch)
        yield _load(ch, settings)


# --- the queries: from the committed board files ----------------------------------


@dataclass(frozen=True)
class Case:
    stem: str
    dashboard: dict[str, Any]
    panel_json: dict[str, Any]
    panel: Panel

    @property
    def id(self) -> str:
        return f"{self.stem}#{self.panel_json['id']}"


def _cases() -> list[Case]:
    cases = []
    for stem, board in BOARDS.items():
        dashboard = json.loads((ROOT / "boards" / f"{stem}.json").read_text())
        built = {p["id"]: panel for p, panel in board.placed()}
        cases += [Case(stem, dashboard, p, built[p["id"]]) for p in dashboard["panels"]]
    return cases


CASES = _cases()
MODES = ("all", "explicit")


def _context(loaded: Loaded, case: Case, mode: str) -> QueryContext:
    one_account = BOARDS[case.stem].one_account
    selected: dict[str, list[str] | None] = {"database": [DATABASE]}
    for name in ("segment", "tier", "account"):
        selected[name] = None if mode == "all" else loaded.values[name]
    if one_account:
        selected["account"] = [loaded.account]
    if case.stem == "pipeline":  # wall clock: rows were written moments ago
        now = datetime.now(UTC)
        start, end, interval = (
            now - timedelta(hours=1),
            now + timedelta(minutes=5),
            timedelta(minutes=1),
        )
    else:  # event time: five weeks of history
        start, end = loaded.first_ts, loaded.first_ts + EVENT_WINDOW
        interval = timedelta(hours=1)
    return QueryContext.for_dashboard(case.dashboard, start, end, interval, selected)


def _columns(ch: ClickHouse, sql: str) -> dict[str, str]:
    return {r[0]: r[1] for r in ch.query(f"DESCRIBE TABLE ({sql})")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_panel_query_returns_the_columns_its_panel_reads_and_rows(
    loaded: Loaded, case: Case, mode: str
) -> None:
    ctx = _context(loaded, case, mode)
    points = 0
    for target in case.panel_json["targets"]:
        ref, sql = target["refId"], expand(target["rawSql"], ctx)
        columns = _columns(loaded.ch, sql)
        missing = set(case.panel.needs(ref)) - set(columns)
        assert not missing, f"{case.panel.title} [{ref}] lacks {missing}: {sql}"
        assert loaded.ch.query(sql), f"{case.panel.title} [{ref}] returned no rows: {sql}"
        if ref in case.panel.any_of:  # one series per category: some may hold no points
            x = case.panel.columns[0]
            points += loaded.ch.query(f"SELECT count() FROM ({sql}) WHERE {x} IS NOT NULL")[0][0]
    assert points or not case.panel.any_of, f"{case.panel.title} plots no point"


@pytest.mark.parametrize("stem", list(BOARDS))
def test_template_variable_queries_list_values(loaded: Loaded, stem: str) -> None:
    case = next(c for c in CASES if c.stem == stem)
    for mode in MODES:
        ctx = _context(loaded, case, mode)
        for variable in case.dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            rows = loaded.ch.query(expand(variable["query"], ctx))
            assert rows and all(len(r) == 1 for r in rows), (stem, variable["name"], mode)
    assert loaded.values["segment"] and len(loaded.values["tier"]) >= 2


@pytest.mark.parametrize("rule", account_rules(DATABASE), ids=lambda r: r.uid)
def test_alert_queries_give_one_instance_per_account_labelled_by_tier(
    loaded: Loaded, rule: Any
) -> None:
    assert "$" not in rule.sql
    columns = _columns(loaded.ch, rule.sql)
    assert {"account_id", "tier"} <= set(columns)
    numbers = [c for c, t in columns.items() if "Int" in t or "Float" in t]
    assert len(numbers) == 1, f"Grafana needs exactly one numeric column, got {numbers}"
    assert all(t in ("String", "LowCardinality(String)") for c, t in columns.items()
               if c not in numbers), columns  # fmt: skip
    rows = loaded.ch.query_dicts(rule.sql)
    assert rows, f"{rule.uid}: no account fires on this portfolio"
    assert len({r["account_id"] for r in rows}) == len(rows)
    assert all(r[numbers[0]] > rule.threshold for r in rows)
    assert {r["tier"] for r in rows} <= {"must_have", "want_to_have", "nice_to_have"}


def test_the_loaded_portfolio_covers_what_the_boards_show(loaded: Loaded) -> None:
    q = loaded.ch.query
    db = DATABASE
    assert q(f"SELECT count() FROM {db}.score_history")[0][0] > 1000
    reasons = {r[0] for r in q(f"SELECT DISTINCT reason FROM {db}.dead_letters")}
    assert {"wrong_topic", "key_mismatch", "invalid_json"} <= reasons
    quadrants = {r[0] for r in q(f"SELECT DISTINCT success_quadrant FROM {db}.latest_score FINAL")}
    assert {
        "work_to_keep:flight_risk",
        "work_to_keep:unprofitable",
        "customer_success",
    } <= quadrants
    assert q(f"SELECT count() FROM {db}.churn_track_record")[0][0] >= 1
    assert q(f"SELECT count() FROM {db}.alerts WHERE kind = 'churn_risk_high'")[0][0] >= 1


def test_the_shadow_migration_table_counts_each_active_accounts_latest_shadow(
    loaded: Loaded,
) -> None:
    """The portfolio's live -> shadow table against the shadow scores the pipeline made."""
    case = next(c for c in CASES if c.panel.title.endswith("band migrations live → shadow"))
    ctx = _context(loaded, case, "all")
    got = {
        (r["live_band"], r["shadow_band"]): r
        for r in loaded.ch.query_dicts(expand(case.panel_json["targets"][0]["rawSql"], ctx))
    }
    active = {r[0] for r in loaded.ch.query(
        f"SELECT account_id FROM {DATABASE}.latest_score FINAL WHERE cancelled = 0")}  # fmt: skip
    latest: dict[str, scoring.ShadowScore] = {}
    for s in loaded.shadows:
        if s.account_id in active and s.ts <= ctx.end:
            was = latest.get(s.account_id)
            if was is None or (s.ts, s.events_applied) >= (was.ts, was.events_applied):
                latest[s.account_id] = s
    cells: dict[tuple[str, str], list[float]] = {}
    for s in latest.values():
        cells.setdefault((s.live_band.value, s.band.value), []).append(s.health - s.live_health)
    assert set(got) == set(cells)
    for cell, differences in cells.items():
        assert got[cell]["accounts"] == len(differences), cell
        mean = sum(differences) / len(differences)
        assert got[cell]["mean_difference"] == pytest.approx(mean, abs=0.02), cell
    assert any(live != shadow for live, shadow in cells), "the shadow moves no account's band"


# --- hostile values (issue 22, item 7): last in this module, as they add accounts ----

INJECTION = "x\\' OR 1=1 -- "  # one backslash: `${v:singlequote}` made it end the literal
CLONE = "acct-clone"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def twins(loaded: Loaded) -> tuple[str, str]:
    """Two copies of the busy account's rows, one under the hostile id (and segment), one
    under a plain id: every board must show the two the same, and nothing else."""
    db = DATABASE
    for account, segment in ((INJECTION, INJECTION), (CLONE, CLONE)):
        for table in ("latest_score", "score_history", "transitions", "alerts", "shadow_scores"):
            replace = f"{_literal(account)} AS account_id"
            if table in ("latest_score", "score_history"):
                replace += f", {_literal(segment)} AS segment"
            loaded.ch.command(
                f"INSERT INTO {db}.{table} SELECT * REPLACE ({replace}) FROM {db}.{table} "
                f"WHERE account_id = {_literal(loaded.account)}"
            )
    return INJECTION, CLONE


def _rows(loaded: Loaded, sql: str) -> list[str]:
    return sorted(repr(r) for r in loaded.ch.query(sql))  # repr: NaN equals NaN


HOSTILE_CASES = [
    pytest.param(case, variable, id=f"{case.id}-{variable}")
    for case in CASES
    for variable in ("account",) + (() if BOARDS[case.stem].one_account else ("segment",))
]


@pytest.mark.parametrize(("case", "variable"), HOSTILE_CASES)
def test_a_hostile_value_selects_only_its_own_rows(
    loaded: Loaded, twins: tuple[str, str], case: Case, variable: str
) -> None:
    """The hostile account (or segment) shows exactly what its plain twin shows. Before
    the variables were percent-encoded, `x\\' OR 1=1 -- ` made the account board's panels
    return every account."""
    hostile, plain = twins

    def run(value: str) -> list[list[str]]:
        base = _context(loaded, case, "all")  # All, and the board's time range
        ctx = QueryContext.for_dashboard(
            case.dashboard, base.start, base.end, base.interval,
            {**base.values, variable: [value]},
        )  # fmt: skip
        return [_rows(loaded, expand(t["rawSql"], ctx)) for t in case.panel_json["targets"]]

    got, expected = run(hostile), run(plain)
    assert got == expected, f"{case.panel.title}: {hostile!r} does not select like {plain!r}"


@pytest.mark.parametrize("minimum", [Severity.HIGH, Severity.CRITICAL], ids=str)
def test_alert_queries_keep_only_the_severities_the_route_admits(
    loaded: Loaded, minimum: Severity
) -> None:
    every = {r.uid: loaded.ch.query_dicts(r.sql) for r in account_rules(DATABASE)}
    route = AlertRoute(minimum)
    for rule in account_rules(DATABASE, route):
        rows = loaded.ch.query_dicts(rule.sql)
        admitted = [r for r in every[rule.uid] if route.admits(rule.kind, Severity(r["severity"]))]
        assert rows == admitted, rule.uid
        assert "nice_to_have" not in {r["tier"] for r in rows}  # at most medium


@pytest.mark.parametrize("kind", ["entered_work_to_keep", "churn_risk_high", "health_drop"])
def test_the_severity_column_is_the_scoring_cores_tier_by_urgency(
    loaded: Loaded, kind: str
) -> None:
    """The SQL of `severity_sql` against `scoring.alerts.severity` over a grid of inputs."""
    config = scoring.load_config()
    spec = getattr(config.alerts.kinds, kind)
    grid = [
        (tier, risk, mrr, trend)
        for tier in ("must_have", "want_to_have", "nice_to_have")
        for risk in (None, 0.1, 0.35, 0.6)
        for mrr in (100.0, 3000.0, 10000.0)
        for trend in (None, 5.0, -12.0, -25.0)
    ]
    for tier, risk, mrr, trend in grid:
        source = (
            f"SELECT '{tier}' AS tier, CAST({'NULL' if risk is None else risk}, "
            f"'Nullable(Float32)') AS churn_risk, toFloat64({mrr}) AS mrr, "
            f"CAST({'NULL' if trend is None else trend}, 'Nullable(Float32)') AS trend_7d"
        )
        (row,) = loaded.ch.query_dicts(f"SELECT {severity_sql(kind, config)} FROM ({source})")
        r, t = risk or 0.0, trend or 0.0
        account = account_urgency(r, -t, r * 12 * mrr, config)
        level = (
            max(spec.urgency, account, key=URGENCIES.index) if spec.raised_by_risk else spec.urgency
        )
        assert Severity(row["severity"]) is severity(Tier(tier), level, config), (tier, r, mrr, t)
