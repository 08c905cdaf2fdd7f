"""AccountState: everything the model remembers about one account.

The state has two halves:

* facts (`clock`, `usage`, `support`, `billing`, `success`, `evidence`):
  merged from events with order-independent operations only (integer
  sums, max/min, last-writer-wins by (ts, id hash), top-k, one status per
  invoice, milestone and ticket), so the same events give the same facts in
  any order within the lateness bound and the caps. Signals, health and
  churn risk are functions of the facts.
* `memory`: what the service has already published (the last class of
  each classification, which hysteresis needs; daily health points for
  trends; churn training snapshots). It records a path, so events that
  arrive out of order may leave a different, equally valid, memory.

Every container is bounded by the config `limits` (tickets by
`scoring.reducers.support`), so the state size is bounded whatever the event
volume; a cap forgets an invoice, milestone or ticket whole, so eviction never
turns a settled one back into an open one. States are immutable: `process`
returns a new one and shares unchanged parts with the old.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import Event
from scoring import codec
from scoring.facts import (
    NO_MEMORY,
    BillingFacts,
    Clock,
    Evidence,
    Memory,
    SuccessFacts,
    SupportFacts,
    UsageFacts,
)


@dataclass(frozen=True, slots=True)
class AccountState:
    account_id: str
    # The parts are frozen: one empty instance of each is shared as the default.
    clock: Clock = Clock()  # noqa: RUF009
    usage: UsageFacts = UsageFacts()  # noqa: RUF009
    support: SupportFacts = SupportFacts()  # noqa: RUF009
    billing: BillingFacts = BillingFacts()  # noqa: RUF009
    success: SuccessFacts = SuccessFacts()  # noqa: RUF009
    evidence: Evidence = field(default_factory=dict)
    memory: Memory = NO_MEMORY
    pending: tuple[Event, ...] = ()
    """Events arrived but not settled yet (`ScoringConfig.settle_hours`), ascending by
    (ts, event id): the facts and the memory above hold the settled events only. Always
    empty with `settle_hours` 0."""
    pending_ticks: tuple[float, ...] = ()
    """Ticks (`scoring.tick`) not settled yet, ascending: each settles in its place among
    the events, before the events of its own time."""

    def with_memory(self, memory: Memory) -> AccountState:
        return AccountState(
            self.account_id,
            self.clock,
            self.usage,
            self.support,
            self.billing,
            self.success,
            self.evidence,
            memory,
            self.pending,
            self.pending_ticks,
        )

    def with_pending(
        self, pending: tuple[Event, ...], ticks: tuple[float, ...] | None = None
    ) -> AccountState:
        return AccountState(
            self.account_id,
            self.clock,
            self.usage,
            self.support,
            self.billing,
            self.success,
            self.evidence,
            self.memory,
            pending,
            self.pending_ticks if ticks is None else ticks,
        )

    def to_bytes(self) -> bytes:
        """Compact orjson encoding (see `scoring.codec`)."""
        return codec.encode_state(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> AccountState:
        return cls(**codec.decode_state(data))

    def facts_bytes(self) -> bytes:
        """The encoding of the facts only: equal for any arrival order within lateness."""
        return codec.encode_state(self, with_memory=False)


def new_state(account_id: str) -> AccountState:
    """The state of an account no event has been applied to."""
    return AccountState(account_id)
