"""AlertWebhook against a real aiohttp server on 127.0.0.1: fast, failing, slow, dead."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from schemas.events import Tier
from schemas.outputs import Alert, Driver, Engagement, Severity
from streams.alert_route import AlertRoute
from streams.settings import load_settings
from streams.webhook import AlertWebhook, slack_body

SECRET = "T000/B000/s3cr3t-token"


def alert(n: int = 0, **changes: Any) -> Alert:
    values: dict[str, Any] = {
        "alert_id": f"a{n:04d}",
        "account_id": "acct-1",
        "ts": datetime(2026, 1, 5, tzinfo=UTC),
        "kind": "payment_failed",
        "severity": Severity.CRITICAL,
        "dedupe_key": f"acct-1:payment_failed:I{n}",
        "message": f"Payment failed: invoice I{n} of 5,000.00 is unpaid.",
        "tier": Tier.MUST_HAVE,
        "engagement": Engagement.ONE_TO_ONE,
        "event_id": f"e{n}",
        "drivers": (Driver(signal="company_happiness", value=-0.2, weight=0.1, effect=-6.0),),
        "config_version": "2026.1",
    }
    return Alert(**{**values, **changes})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook endpoint on a free local port; yields (url, bodies it received)."""
    received: list[dict[str, Any]] = []

    async def endpoint(request: web.Request) -> web.StreamResponse:
        received.append(await request.json())
        return await handler(request)

    app = web.Application()
    app.router.add_post(f"/services/{SECRET}", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/services/{SECRET}", received
    finally:
        await runner.cleanup()


async def ok(_: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def statuses(*codes: int, retry_after: str | None = None) -> Handler:
    """Answer with `codes` in turn, then 200; 429s with `retry_after`."""
    queue = list(codes)

    async def handler(_: web.Request) -> web.StreamResponse:
        code = queue.pop(0) if queue else 200
        headers = {"Retry-After": retry_after} if code == 429 and retry_after else None
        return web.Response(status=code, text="x", headers=headers)

    return handler


async def deliver(webhook: AlertWebhook, alerts: list[Alert], timeout: float = 10.0) -> bool:
    task = asyncio.create_task(webhook.run())
    try:
        for a in alerts:
            webhook.submit(a)
        return await webhook.drain(timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def fast(url: str, **kw: Any) -> AlertWebhook:
    return AlertWebhook(url, **{"timeout": 2.0, "backoff": 0.01, "max_backoff": 0.05, **kw})


def test_alerts_are_posted_in_order_as_slack_messages() -> None:
    async def scenario() -> None:
        async with server(ok) as (url, received):
            webhook = fast(url)
            assert await deliver(webhook, [alert(i) for i in range(3)])
            assert webhook.stats.sent == 3 and webhook.stats.failed == 0
            assert [b["blocks"][-1]["elements"][0]["text"][:11] for b in received] == [
                "alert a0000",
                "alert a0001",
                "alert a0002",
            ]
            assert all(set(b) == {"text", "blocks"} for b in received)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("codes", "sent", "failed", "retries"),
    [
        ((500, 503), 1, 0, 2),  # server errors are retried ...
        ((429,), 1, 0, 1),  # ... and so is rate limiting
        ((500, 500, 500, 500), 0, 1, 3),  # ... up to max_attempts (4)
        ((400,), 0, 1, 0),  # a refusal is not retried
        ((404,), 0, 1, 0),
    ],
)
def test_retries_with_backoff_on_server_errors_only(
    codes: tuple[int, ...], sent: int, failed: int, retries: int
) -> None:
    async def scenario() -> None:
        async with server(statuses(*codes)) as (url, received):
            webhook = fast(url)
            assert await deliver(webhook, [alert()])
            s = webhook.stats
            assert (s.sent, s.failed, s.retries) == (sent, failed, retries)
            assert len(received) == 1 + retries

    asyncio.run(scenario())


def test_the_backoff_grows_exponentially_and_honours_retry_after() -> None:
    async def scenario() -> None:
        seen: list[float] = []
        loop = asyncio.get_running_loop()
        inner = statuses(500, 500, 429, retry_after="0.3")

        async def timed(request: web.Request) -> web.StreamResponse:
            seen.append(loop.time())
            return await inner(request)

        async with server(timed) as (url, _):
            webhook = AlertWebhook(url, backoff=0.05, max_backoff=1.0, max_attempts=4)
            assert await deliver(webhook, [alert()])
        gaps = [b - a for a, b in itertools.pairwise(seen)]
        assert webhook.stats.sent == 1 and len(gaps) == 3
        # 0.05 s, then 0.1 s, then the 429's Retry-After (0.3 s) beats the 0.2 s backoff
        assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.29
        assert max(gaps) < 2.0

    asyncio.run(scenario())


def test_a_slow_webhook_times_out_and_never_blocks_submit(caplog: pytest.LogCaptureFixture) -> None:
    async def slow(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return web.Response(text="late")

    async def scenario() -> None:
        async with server(slow) as (url, _):
            webhook = AlertWebhook(url, timeout=0.2, max_attempts=2, backoff=0.01, queue_size=3)
            task = asyncio.create_task(webhook.run())
            loop = asyncio.get_running_loop()
            started = loop.time()
            for i in range(10):  # while the sender is stuck on the first
                webhook.submit(alert(i))
            assert loop.time() - started < 0.05
            await asyncio.sleep(0)
            assert await webhook.drain(timeout=10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            s = webhook.stats
            assert s.submitted == 10 and s.dropped == 7  # the queue keeps the 3 newest
            assert s.sent == 0 and s.failed == 3 and s.retries == 3

    with caplog.at_level(logging.INFO, logger="streams.webhook"):
        asyncio.run(scenario())
    assert "queue full (3): dropped the oldest alert a0000" in caplog.text
    assert "TimeoutError" in caplog.text
    assert SECRET not in caplog.text and "127.0.0.1" not in caplog.text


def test_a_dead_webhook_fails_fast_and_the_url_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{SECRET}"

    async def scenario() -> AlertWebhook:
        webhook = fast(url, max_attempts=3)
        assert await deliver(webhook, [alert(1), alert(2)])
        return webhook

    with caplog.at_level(logging.DEBUG, logger="streams.webhook"):
        webhook = asyncio.run(scenario())
    assert (webhook.stats.sent, webhook.stats.failed, webhook.stats.retries) == (0, 2, 4)
    assert "ClientConnectorError" in caplog.text
    assert SECRET not in caplog.text and str(port) not in caplog.text
    assert SECRET not in repr(webhook)


def test_drain_gives_up_after_its_timeout() -> None:
    async def scenario() -> None:
        webhook = AlertWebhook("http://127.0.0.1:9/never")
        webhook.submit(alert())  # no sender task running
        assert not await webhook.drain(timeout=0.05)

    asyncio.run(scenario())


def test_slack_body_carries_the_alert() -> None:
    body = slack_body(alert(7, message="costs <&> more"))
    assert body["text"].startswith("[CRITICAL] Payment failed: acct-1: costs &lt;&amp;&gt; more")
    first = body["blocks"][0]["text"]["text"]
    assert "costs &lt;&amp;&gt; more" in first and first.startswith(":red_circle:")
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert fields[0] == "*Tier*\nmust_have" and fields[1] == "*Engagement*\none_to_one"
    assert "acct-1:payment_failed:I7" in fields[3]
    assert body["blocks"][2]["elements"][0]["text"] == "Drivers: company_happiness -6.0"


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        AlertWebhook("http://x", queue_size=0)


def _texts(node: Any) -> list[str]:
    """Every string a Slack client renders as mrkdwn: `text` values, at any depth."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "text" and isinstance(v, str)]
        return found + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def test_event_text_is_escaped_in_the_fallback_text_and_every_block() -> None:
    """An account id, message or dedupe key from a producer must not ping a channel or
    carry a disguised link: Slack reads `<...>` as a command or link, `&` as an entity."""
    hostile = alert(
        3,
        account_id="<!channel>",
        message="pay now <https://evil.example/x|your invoice> & <@U0123>",
        dedupe_key="<!here>:payment_failed:I3",
        event_id="<!everyone>",
        alert_id="a<b>",
    )

    async def scenario() -> list[dict[str, Any]]:
        async with server(ok) as (url, received):
            assert await deliver(fast(url), [hostile])
            return received

    [body] = asyncio.run(scenario())
    texts = _texts(body)
    assert len(texts) >= 8 and body["text"] in texts
    for text in texts:
        assert "<" not in text and ">" not in text, text
        assert "&" not in text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert body["text"] == (
        "[CRITICAL] Payment failed: &lt;!channel&gt;: pay now "
        "&lt;https://evil.example/x|your invoice&gt; &amp; &lt;@U0123&gt;"
    )
    assert "*[CRITICAL] Payment failed: &lt;!channel&gt;*" in body["blocks"][0]["text"]["text"]
    assert "&lt;!here&gt;:payment_failed:I3" in body["blocks"][1]["fields"][3]["text"]
    assert "event &lt;!everyone&gt;" in body["blocks"][-1]["elements"][0]["text"]


def test_long_escaped_text_is_never_cut_inside_an_entity() -> None:
    body = slack_body(alert(1, message="&" * 1000))  # 5,000 characters escaped
    section = body["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("&amp;")
    assert len(body["text"]) <= 4000


# --- routing: a minimum severity and a set of kinds ----------------------------------


def test_the_webhook_posts_only_the_alerts_its_route_admits() -> None:
    """A real local server receives the high-or-worse alerts of the routed kinds only."""
    sent = [
        alert(0, severity=Severity.CRITICAL),
        alert(1, severity=Severity.HIGH),
        alert(2, severity=Severity.MEDIUM),  # below the minimum
        alert(3, severity=Severity.LOW),  # below the minimum
        alert(4, kind="churn_risk_high", severity=Severity.CRITICAL),
        alert(5, kind="expansion_opportunity", severity=Severity.CRITICAL),  # not routed
    ]

    async def scenario() -> None:
        async with server(ok) as (url, received):
            route = AlertRoute(Severity.HIGH, frozenset({"payment_failed", "churn_risk_high"}))
            webhook = fast(url, route=route)
            assert await deliver(webhook, sent)
            ids = [b["blocks"][-1]["elements"][0]["text"].split(" ")[1] for b in received]
            assert ids == ["a0000", "a0001", "a0004"]
            s = webhook.stats
            assert (s.submitted, s.filtered, s.sent) == (6, 3, 3)

    asyncio.run(scenario())


def test_the_default_route_posts_every_alert() -> None:
    async def scenario() -> None:
        async with server(ok) as (url, received):
            webhook = fast(url)
            alerts = [alert(i, severity=s) for i, s in enumerate(Severity)]
            assert await deliver(webhook, alerts)
            assert len(received) == len(alerts) and webhook.stats.filtered == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, AlertRoute(Severity.LOW, None)),
        (
            {"HEALTHSCORE_ALERT_MIN_SEVERITY": "high", "HEALTHSCORE_ALERT_KINDS": "payment_failed"},
            AlertRoute(Severity.HIGH, frozenset({"payment_failed"})),
        ),
        (
            {"HEALTHSCORE_ALERT_KINDS": " churn_risk_high , health_drop "},
            AlertRoute(Severity.LOW, frozenset({"churn_risk_high", "health_drop"})),
        ),
    ],
)
def test_the_route_comes_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: AlertRoute
) -> None:
    for name in ("HEALTHSCORE_ALERT_MIN_SEVERITY", "HEALTHSCORE_ALERT_KINDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().alert_route == expected


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("HEALTHSCORE_ALERT_KINDS", "payment_failed,payment_late", "payment_late"),
        ("HEALTHSCORE_ALERT_MIN_SEVERITY", "urgent", "HEALTHSCORE_ALERT_MIN_SEVERITY"),
    ],
)
def test_an_unknown_kind_or_severity_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=problem):
        load_settings()
