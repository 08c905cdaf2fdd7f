"""Optional delivery of alerts to a Slack-compatible incoming webhook.

    OutputSink.publish --submit(alert)--> bounded queue --AlertWebhook.run()--> POST JSON

Only the alerts its `AlertRoute` admits (a minimum severity, a set of kinds:
`streams.alert_route`) are queued; the others are counted in `stats.filtered`.
Scoring never waits for the webhook. `submit` is synchronous and O(1); when
the queue is full the *oldest* alert is dropped, counted in `stats.dropped`
and logged (the first drop, then at most one line per `log_every` seconds).
One sender task posts the alerts in order, one at a time, each request with
its own timeout; connection errors, timeouts, HTTP 429 and 5xx are retried
with exponential backoff (a `Retry-After` is honoured up to the cap), other
answers are not. A slow or dead webhook therefore costs at most the queue's
memory.

The URL is a secret (a Slack webhook URL carries its token): it is never
logged, and request errors are logged by exception type only, since aiohttp
puts the URL in some of its messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from schemas.outputs import Alert
from streams.alert_route import EVERY_ALERT, AlertRoute

log = logging.getLogger(__name__)

SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":white_circle:",
}
MAX_SECTION_TEXT = 3000  # Slack's limit for a section's text


@dataclass
class WebhookStats:
    submitted: int = 0
    sent: int = 0
    failed: int = 0
    """Alerts given up on: refused (4xx) or still failing after every attempt."""
    dropped: int = 0
    """Alerts dropped unsent because the queue was full."""
    retries: int = 0
    filtered: int = 0
    """Alerts not queued: below the minimum severity or of a kind not routed here."""


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters (`<!channel>`, `<@U123>`,
    `<https://x|link>`); escaped, they are shown as they are and trigger nothing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """Escaped text cut to `limit` characters, never inside an `&amp;`-like entity."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut


def _title(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def slack_body(alert: Alert) -> dict[str, Any]:
    """The Slack message of an alert: `text` (notifications, fallback) and `blocks`.

    Every piece of text that comes from an event (the account id in the headline, the
    message, the dedupe key, the ids) is escaped for Slack, in `text` as in the blocks:
    an account id such as `<!channel>` must not notify a channel, nor a message carry a
    disguised link."""
    severity = alert.severity.value
    headline = f"[{severity.upper()}] {_title(alert.kind)}: {alert.account_id}"
    drivers = ", ".join(f"{d.signal} {d.effect:+.1f}" for d in alert.drivers[:5])
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(
                    f"{SEVERITY_EMOJI.get(severity, '')} *{_escape(headline)}*\n"
                    f"{_escape(alert.message)}",
                    MAX_SECTION_TEXT,
                ),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Tier*\n{_escape(alert.tier.value)}"},
                {"type": "mrkdwn", "text": f"*Engagement*\n{_escape(alert.engagement.value)}"},
                {"type": "mrkdwn", "text": f"*Event time*\n{alert.ts.isoformat()}"},
                {
                    "type": "mrkdwn",
                    "text": f"*Dedupe key*\n{_clip(_escape(alert.dedupe_key), 1900)}",
                },
            ],
        },
    ]
    if drivers:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Drivers: {_escape(drivers)}"}],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _escape(
                        f"alert {alert.alert_id} · event {alert.event_id} · "
                        f"config {alert.config_version}"
                    ),
                }
            ],
        }
    )
    return {"text": _clip(_escape(f"{headline}: {alert.message}"), 4000), "blocks": blocks}


class AlertWebhook:
    """A bounded queue of alerts and the task that posts them (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 1000,
        timeout: float = 5.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        log_every: float = 10.0,
        route: AlertRoute = EVERY_ALERT,
    ) -> None:
        if queue_size < 1 or max_attempts < 1 or timeout <= 0:
            raise ValueError("queue_size and max_attempts must be >= 1, timeout > 0")
        self._url = url
        self.queue: deque[Alert] = deque()
        self.queue_size = queue_size
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.log_every = log_every
        self.route = route
        self.stats = WebhookStats()
        self._wake: asyncio.Event | None = None
        self._busy = False
        self._last_drop_log = float("-inf")

    def __repr__(self) -> str:  # never the URL
        return f"AlertWebhook(queued={len(self.queue)}, stats={self.stats})"

    # --- the scoring side: never blocks -------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Queue an alert the route admits; drops the oldest queued one when the queue is full."""
        self.stats.submitted += 1
        if not self.route.admits(alert.kind, alert.severity):
            self.stats.filtered += 1
            return
        if len(self.queue) >= self.queue_size:
            dropped = self.queue.popleft()
            self.stats.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= self.log_every:
                self._last_drop_log = now
                log.warning(
                    "alert webhook queue full (%d): dropped the oldest alert %s; %d dropped so far",
                    self.queue_size,
                    dropped.alert_id,
                    self.stats.dropped,
                )
        self.queue.append(alert)
        self._wakeup().set()

    # --- the sender task ------------------------------------------------------------

    def _wakeup(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    async def run(self) -> None:
        """Post queued alerts until cancelled."""
        wake = self._wakeup()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if not self.queue:
                    wake.clear()
                    await wake.wait()
                    continue
                self._busy = True
                try:
                    await self._deliver(session, self.queue.popleft())
                finally:
                    self._busy = False

    async def drain(self, timeout: float, poll: float = 0.02) -> bool:
        """Wait until every queued alert was handled (sent or given up); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.queue or self._busy:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(poll)
        return True

    async def _deliver(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        body = slack_body(alert)
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                async with session.post(self._url, json=body) as response:
                    status = response.status
                    if 200 <= status < 300:
                        self.stats.sent += 1
                        return
                    if status != 429 and status < 500:
                        self.stats.failed += 1
                        log.warning(
                            "alert webhook refused alert %s: HTTP %d", alert.alert_id, status
                        )
                        return
                    retry_after = _seconds(response.headers.get("Retry-After"))
                    problem = f"HTTP {status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__  # not str(exc): it may contain the URL
            if attempt == self.max_attempts:
                break
            self.stats.retries += 1
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            if retry_after is not None:
                delay = min(self.max_backoff, max(delay, retry_after))
            log.info(
                "alert webhook attempt %d for alert %s failed (%s); retrying in %.1fs",
                attempt,
                alert.alert_id,
                problem,
                delay,
            )
            await asyncio.sleep(delay)
        self.stats.failed += 1
        log.warning(
            "alert webhook gave up on alert %s after %d attempts (%s)",
            alert.alert_id,
            self.max_attempts,
            problem,
        )


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
