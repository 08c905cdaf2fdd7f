"""Alert scenarios on the real broker: histories in, transitions and alerts out.

One worker process serves every scenario. Each account's history has two
phases: a setup (who the account is) and what then happens to it. The
second phase is produced once the worker has applied the first, so the
setup (an importance override, say) is in place whatever order the worker
reads the four family topics in.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from devtools.kafka_io import produce_events
from devtools.runner import WorkerProcess
from schemas.decode import decode_event
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class History:
    """One account's events in two phases, as the dicts a producer would send."""

    account: str
    setup: list[dict[str, Any]] = field(default_factory=list)
    then: list[dict[str, Any]] = field(default_factory=list)
    _phase: list[dict[str, Any]] | None = None

    def add(self, type_: str, day: float, **fields: Any) -> History:
        phase = self.setup if self._phase is None else self._phase
        n = len(self.setup) + len(self.then)
        phase.append(
            {
                "event_id": f"{self.account}-{n:04d}",
                "account_id": self.account,
                "ts": (ORIGIN + timedelta(days=day)).isoformat(),
                "type": type_,
                "schema_version": "1.0",
                **fields,
            }
        )
        return self

    def next_phase(self) -> History:
        self._phase = self.then
        return self

    def ids(self, phase: list[dict[str, Any]]) -> set[str]:
        return {e["event_id"] for e in phase}


def _customer(account: str, mrr: float, nps: int = 9, tier: str | None = None) -> History:
    """Three weeks of a busy account on an annual growth plan, invoices paid."""
    h = History(account)
    term_end = (ORIGIN + timedelta(days=365)).isoformat()
    h.add("subscription_started", 0, plan="growth", mrr=mrr, seats=10, term_end=term_end)
    h.add("invoice_paid", 0.5, invoice_id="I0", amount=mrr)
    if tier is not None:
        h.add("importance_set", 0.6, tier=tier)
    for day in range(20):
        for user in range(8):
            h.add("feature_used", day + 0.3, user_id=f"u{user}", feature=f"f{user}", quantity=3)
    h.add("nps_response", 2, score=nps).add("csat_response", 3, score=5)
    return h


def flight_risk() -> History:
    """Profitable, then the NPS collapses and urgent tickets escalate."""
    h = _customer("flight", mrr=5000.0).next_phase()
    for i in range(4):
        h.add("ticket_opened", 20.1 + i * 0.3, ticket_id=f"T{i}", priority="urgent")
        h.add("ticket_escalated", 20.2 + i * 0.3, ticket_id=f"T{i}")
    for day in (20.3, 20.6, 21, 21.5, 22, 22.5):
        h.add("nps_response", day, score=0)
    return h


def unprofitable() -> History:
    """Happy, but credits and support time cost more than the MRR."""
    h = _customer("unprofitable", mrr=300.0, nps=10).next_phase()
    for i in range(3):
        h.add("credit_issued", 20 + i, amount=900.0)
        h.add("ticket_opened", 20.2 + i, ticket_id=f"T{i}")
        h.add("ticket_resolved", 20.4 + i, ticket_id=f"T{i}", handling_minutes=600)
    h.add("nps_response", 22.5, score=10)
    return h


def hovering() -> History:
    """Customer happiness swings across the success quadrant's border, inside its band."""
    h = History("hover")
    h.add("subscription_started", 0, plan="growth", mrr=5000.0, seats=10)
    h.add("invoice_paid", 0.5, invoice_id="I0", amount=5000.0)
    for day in range(20):
        h.add("feature_used", day + 0.3, user_id="u1", feature="f1", quantity=3)
    for i in range(10):
        h.add("nps_response", 1 + i, score=7)  # passives: NPS part 0
    h.next_phase()
    for i, score in enumerate([9, 6, 6, 9] * 3):  # the NPS part swings between +/- 0.05..0.09
        h.add("nps_response", 20 + i * 0.25, score=score)
        h.add("feature_used", 20.1 + i * 0.25, user_id="u1", feature="f1", quantity=3)
    return h


def failed_payment(tier: str) -> History:
    h = _customer(f"pay-{tier}", mrr=5000.0, tier=tier).next_phase()
    h.add("invoice_failed", 20, invoice_id="I1", amount=5000.0)
    return h


def cancelled() -> History:
    """A must-have customer cancels; then everything that alerts on a live account happens
    (an invoice fails, the NPS collapses, urgent tickets escalate, usage stops): a cancelled
    account is terminal, nothing alerts. The cancellation is in the setup, so the worker
    has applied it before the rest is produced, whatever order it reads the topics in."""
    h = _customer("cancelled", mrr=5000.0, tier="must_have")
    h.add("subscription_cancelled", 20, reason="budget").next_phase()
    h.add("invoice_failed", 21, invoice_id="I1", amount=5000.0)
    for i in range(4):
        h.add("ticket_opened", 21.1 + i * 0.3, ticket_id=f"T{i}", priority="urgent")
        h.add("ticket_escalated", 21.2 + i * 0.3, ticket_id=f"T{i}")
    for day in (21.3, 21.6, 22, 22.5, 23, 23.5):
        h.add("nps_response", day, score=0)
    return h


def scenarios() -> list[History]:
    return [
        flight_risk(),
        unprofitable(),
        hovering(),
        failed_payment("must_have"),
        failed_payment("nice_to_have"),
        cancelled(),
    ]


def test_the_histories_are_valid_events() -> None:
    for h in scenarios():
        for e in h.setup + h.then:
            decode_event(orjson.dumps(e), None)


# --- the run: one worker for every scenario --------------------------------------------


@dataclass
class Run:
    pipeline: Pipeline
    histories: dict[str, History]
    alerts: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    webhook_bodies: list[dict[str, Any]] = field(default_factory=list)

    def of(self, account: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [x for x in items if x["account_id"] == account]


PROGRESS = re.compile(r"received=(\d+) .*scores=(\d+) transitions=(\d+) alerts=(\d+) ")


def _wait_received(worker: WorkerProcess, received: int, timeout: float = 60) -> dict[str, int]:
    """Wait for the worker's progress line (every 2 s) to count `received` records; the
    outputs it counted by then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.running, worker.log_tail()
        for match in PROGRESS.finditer(worker.log_path.read_text()):
            if int(match[1]) == received:
                counts = map(int, match.groups()[1:])
                return dict(zip(("scores", "transitions", "alerts"), counts, strict=True))
        time.sleep(0.2)
    raise AssertionError(f"the worker did not receive {received} records\n{worker.log_tail()}")


class _Receiver(BaseHTTPRequestHandler):
    """A Slack-like incoming webhook on loopback: keeps every JSON body it is posted."""

    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(orjson.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp: Path = tmp_path_factory.mktemp("alert-scenarios")
    receiver = type("Receiver", (_Receiver,), {"bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secret"
    pipeline = Pipeline.create(
        kafka_bootstrap, tmp, partitions=2, HEALTHSCORE_ALERT_WEBHOOK_URL=url
    )
    histories = {h.account: h for h in scenarios()}
    setup = [e for h in histories.values() for e in h.setup]
    then = [e for h in histories.values() for e in h.then]
    topics = pipeline.settings.input_topics
    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, topics, setup))
        _wait_received(worker, len(setup))
        asyncio.run(produce_events(kafka_bootstrap, topics, then))
        counted = _wait_received(worker, len(setup) + len(then))
        outputs = {
            name: pipeline.read_output(name, lambda m, n=n: len(m) >= n, timeout=30)
            for name, n in counted.items()
        }
        deadline = time.monotonic() + 15
        while len(receiver.bodies) < len(outputs["alerts"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.running, worker.log_tail()
    server.shutdown()
    log = worker.log_path.read_text()
    assert "secret" not in log, "the webhook URL is a secret and must not be logged"
    for name, n in counted.items():
        assert len(outputs[name]) == n, (name, len(outputs[name]), n)
    yield Run(
        pipeline,
        histories,
        outputs["alerts"],
        outputs["transitions"],
        outputs["scores"],
        list(receiver.bodies),
    )


# --- the scenarios ---------------------------------------------------------------------


def test_a_profitable_account_turning_unhappy_enters_flight_risk_with_exactly_one_alert(
    run: Run,
) -> None:
    entered = [
        t
        for t in run.of("flight", run.transitions)
        if t["kind"] == "success_quadrant" and t["to_value"] == "work_to_keep:flight_risk"
    ]
    assert len(entered) == 1, run.of("flight", run.transitions)
    assert entered[0]["event_id"] in run.histories["flight"].ids(run.histories["flight"].then)
    alerts = [a for a in run.of("flight", run.alerts) if a["kind"] == "entered_work_to_keep"]
    assert len(alerts) == 1, alerts
    assert alerts[0]["dedupe_key"] == "flight:entered_work_to_keep:flight_risk"
    assert alerts[0]["tier"] == "must_have" and alerts[0]["severity"] == "critical"
    assert {d["signal"] for d in alerts[0]["drivers"]} >= {"customer_happiness"}


def test_a_happy_account_costing_more_than_it_pays_enters_unprofitable(run: Run) -> None:
    quadrants = [
        t["to_value"]
        for t in run.of("unprofitable", run.transitions)
        if t["kind"] == "success_quadrant"
    ]
    assert quadrants[-1] == "work_to_keep:unprofitable", quadrants
    alerts = [a for a in run.of("unprofitable", run.alerts) if a["kind"] == "entered_work_to_keep"]
    assert [a["dedupe_key"] for a in alerts] == ["unprofitable:entered_work_to_keep:unprofitable"]


def test_an_account_hovering_at_a_border_does_not_flap(run: Run) -> None:
    h = run.histories["hover"]
    later = [t for t in run.of("hover", run.transitions) if t["event_id"] in h.ids(h.then)]
    assert [t for t in later if t["kind"] == "success_quadrant"] == []
    kinds = Counter(t["kind"] for t in run.of("hover", run.transitions))
    assert kinds["success_quadrant"] == 1, run.of("hover", run.transitions)
    assert [a for a in run.of("hover", run.alerts) if a["kind"] == "entered_work_to_keep"] == []


def test_a_failed_payment_alerts_on_a_must_have_account_only(run: Run) -> None:
    """domain.md: "payment failed on a must-have account" (`min_tier: must_have`)."""
    (alert,) = [a for a in run.of("pay-must_have", run.alerts) if a["kind"] == "payment_failed"]
    assert alert["dedupe_key"] == "pay-must_have:payment_failed:I1"
    assert (alert["tier"], alert["severity"]) == ("must_have", "critical")
    nice = run.of("pay-nice_to_have", run.alerts)
    assert [a for a in nice if a["kind"] == "payment_failed"] == []


def test_each_account_raises_exactly_the_alerts_of_its_story(run: Run) -> None:
    """Whatever order the worker read the four family topics in."""
    raised = {a: sorted(x["kind"] for x in run.of(a, run.alerts)) for a in run.histories}
    assert raised == {
        "flight": ["entered_work_to_keep", "health_drop"],
        "unprofitable": ["entered_work_to_keep"],
        "hover": [],
        "pay-must_have": ["payment_failed"],
        "pay-nice_to_have": [],
        "cancelled": [],
    }


def test_a_cancelled_account_raises_no_alert_and_carries_no_churn_risk(run: Run) -> None:
    assert run.of("cancelled", run.alerts) == []
    latest = max(run.of("cancelled", run.scores), key=lambda s: (s["ts"], s["events_applied"]))
    assert latest["cancelled"] is True and latest["churn_risk"] is None
    assert latest["success_quadrant"] is None and latest["signals"]["customer_happiness"] < 0


def test_scores_are_throttled_not_one_per_event(run: Run) -> None:
    events = sum(len(h.setup) + len(h.then) for h in run.histories.values())
    assert len(run.histories) <= len({s["account_id"] for s in run.scores})
    assert len(run.scores) < events / 3, (len(run.scores), events)  # ~1 in 5 in event order


def test_clickhouse_holds_what_the_topics_carried(run: Run) -> None:
    with run.pipeline.clickhouse() as ch:
        db = ch.database
        alert_ids = {r["alert_id"] for r in ch.query_dicts(f"SELECT alert_id FROM {db}.alerts")}
        transitions = ch.query(f"SELECT count() FROM {db}.transitions FINAL")[0][0]
        history = ch.query(f"SELECT count() FROM {db}.score_history")[0][0]
        latest = ch.query_dicts(f"SELECT account_id, events_applied FROM {db}.latest_score FINAL")
    assert alert_ids == {a["alert_id"] for a in run.alerts}
    assert transitions == len(run.transitions)
    assert history == len(run.scores)
    last = {}
    for s in run.scores:
        last[s["account_id"]] = max(last.get(s["account_id"], 0), s["events_applied"])
    assert {r["account_id"]: r["events_applied"] for r in latest} == last


def test_every_alert_reaches_the_webhook_once(run: Run) -> None:
    """The worker posts each alert of the alerts topic to the webhook, once, as a
    Slack message naming the alert."""
    assert run.alerts, "the scenarios raise alerts"
    posted = Counter()
    for body in run.webhook_bodies:
        assert body["text"] and body["blocks"]
        ids = {a["alert_id"] for a in run.alerts if a["alert_id"] in orjson.dumps(body).decode()}
        assert len(ids) == 1, body
        posted.update(ids)
    assert posted == Counter({a["alert_id"]: 1 for a in run.alerts})
