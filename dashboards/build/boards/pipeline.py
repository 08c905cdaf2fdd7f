"""Pipeline: throughput, end-to-end lag and dead letters, from what ClickHouse holds.

There is no raw-events table: throughput is derived from `score_history`
(`written_at` is when a score row reached ClickHouse, `ts` the event time of
the event behind it) and rejected input from `dead_letters`.
"""

from __future__ import annotations

from dashboards.build.boards.base import Board, per_interval, rows
from dashboards.build.panels import Panel
from dashboards.build.variables import ACCOUNT_SCOPE, ACCOUNTS_IN_SCOPE, DB
from dashboards.build.visuals import PanelSpec

HISTORY = f"{DB}.score_history"
DEAD = f"{DB}.dead_letters FINAL"
LAST_5_MIN = "written_at > $__toTime - INTERVAL 5 MINUTE AND written_at <= $__toTime"
LAG_MS = "dateDiff('millisecond', ts, written_at)"
WRITTEN_IN_RANGE = f"$__timeFilter(written_at) AND {ACCOUNTS_IN_SCOPE}"
EVENTS_APPLIED = "toInt64(events_applied)"


def _per_second_by(label: str, column: str, source: str, time: str, where: str) -> str:
    """SQL: rows of `source` per second in each interval of `time`, in `column`, one
    series per value of `label`."""
    return per_interval(
        f"SELECT $__timeInterval({time}) AS time, {label},\n"
        f"       count() / $__interval_s AS {column}\nFROM {source}\nWHERE {where}",
        label,
    )


def _stat(title: str, sql: str, column: str, unit: str, description: str) -> Panel:
    return PanelSpec(title, [column], sql, (6, 5), description).stat(unit=unit)


HEADLINE = (
    _stat(
        "Score updates/s, last 5 min",
        f"SELECT count() / 300 AS score_updates_per_s FROM {HISTORY} "
        f"WHERE {LAST_5_MIN} AND {ACCOUNTS_IN_SCOPE}",
        "score_updates_per_s",
        "reqps",
        "Score rows written per second over the 5 minutes before the end of the range.",
    ),
    _stat(
        "End-to-end lag p95, last 5 min",
        f"SELECT quantile(0.95)({LAG_MS}) / 1000 AS lag_p95_s FROM {HISTORY} "
        f"WHERE {LAST_5_MIN} AND {ACCOUNTS_IN_SCOPE}",
        "lag_p95_s",
        "s",
        "written_at - ts: from the event's own time to its score in ClickHouse. Replays "
        "and late events make it large by design.",
    ),
    _stat(
        "Dead letters in range",
        f"SELECT count() AS dead_letters FROM {DEAD} WHERE $__timeFilter(received_at)",
        "dead_letters",
        "short",
        "Messages refused in the time range (all topics; not filtered by segment or tier).",
    ),
    _stat(
        "Accounts scored",
        f"SELECT count() AS accounts FROM {DB}.latest_score FINAL WHERE {ACCOUNT_SCOPE}",
        "accounts",
        "short",
        "Accounts with a latest score in the selected segments and tiers.",
    ),
)


SCORE_RATE = PanelSpec(
    "Score updates per second by segment",
    ["time", "segment", "score_updates_per_s"],
    _per_second_by("segment", "score_updates_per_s", HISTORY, "written_at", WRITTEN_IN_RANGE),
    (12, 8),
    "Rows written to score_history per second (wall-clock `written_at`). The "
    "worker writes an account's last score of each batch, so this is at most the event rate.",
).timeseries(unit="reqps", long_format=True)


EVENT_RATE = PanelSpec(
    "Events applied per second",
    ["time", "events_per_s"],
    per_interval(f"""
    SELECT $__timeInterval(written_at) AS time, sum(applied) / $__interval_s AS events_per_s
    FROM (
        SELECT written_at,
               {EVENTS_APPLIED} - lagInFrame({EVENTS_APPLIED}, 1, {EVENTS_APPLIED} - 1) OVER (
                   PARTITION BY account_id ORDER BY events_applied
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS applied
        FROM {HISTORY}
        WHERE {WRITTEN_IN_RANGE}
    )
    """),
    (12, 8),
    "Accepted events per second, from the growth of each account's "
    "`events_applied` between consecutive score rows (an account's first row in the range "
    "counts as one event). Per-family rates are not in ClickHouse: no raw-events table.",
).timeseries(unit="reqps")


LAG = PanelSpec(
    "End-to-end lag (written_at - event ts)",
    ["time", "p50_s", "p95_s", "max_s"],
    per_interval(f"""
    SELECT $__timeInterval(written_at) AS time,
           quantile(0.5)({LAG_MS}) / 1000 AS p50_s,
           quantile(0.95)({LAG_MS}) / 1000 AS p95_s,
           max({LAG_MS}) / 1000 AS max_s
    FROM {HISTORY}
    WHERE {WRITTEN_IN_RANGE}
    """),
    (12, 8),
).timeseries(unit="s")


DEAD_LETTER_RATE = PanelSpec(
    "Dead letters per second by source topic",
    ["time", "source_topic", "dead_letters_per_s"],
    _per_second_by(
        "source_topic", "dead_letters_per_s", DEAD, "received_at", "$__timeFilter(received_at)"
    ),
    (12, 8),
    "One series per input topic (= event family) and the dead-letter reasons below.",
).timeseries(unit="reqps", long_format=True)


BY_REASON = PanelSpec(
    "Dead letters by reason and topic",
    ["reason", "source_topic", "messages", "last_seen"],
    f"""
    SELECT reason, source_topic, count() AS messages, max(received_at) AS last_seen
    FROM {DEAD}
    WHERE $__timeFilter(received_at)
    GROUP BY reason, source_topic
    ORDER BY messages DESC
    """,
    (12, 9),
).table(units={"last_seen": "dateTimeAsIso"})


LATEST_DEAD_LETTERS = PanelSpec(
    "Latest dead letters",
    [
        "received_at",
        "source_topic",
        "partition",
        "offset",
        "reason",
        "field",
        "detail",
        "account_id",
    ],
    f"""
    SELECT received_at, source_topic, partition, offset, reason, field, detail, account_id
    FROM {DEAD}
    WHERE $__timeFilter(received_at)
    ORDER BY received_at DESC
    LIMIT 100
    """,
    (12, 9),
).table(units={"received_at": "dateTimeAsIso"})


def board() -> Board:
    return Board(
        uid="hs-pipeline",
        title="healthscore · Pipeline",
        description="Throughput (score updates and events applied per second), end-to-end lag "
        "and dead letters by reason and source topic.",
        tags=("pipeline",),
        time_from="now-6h",
        rows=rows(
            HEADLINE,
            [SCORE_RATE, EVENT_RATE],
            [LAG, DEAD_LETTER_RATE],
            [BY_REASON, LATEST_DEAD_LETTERS],
        ),
    )
