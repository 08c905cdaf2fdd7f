"""Compact orjson encoding of AccountState (`scoring.state`): `encode_state` reads a state,
`decode_state` gives the fields to build one.

Short keys, empty parts left out; the exactly-once records (ts second u32 +
48-bit id key + 16-bit content fingerprint per event) and the active-user sketch
registers (register u16 + age in days u16) packed as base64. `FORMAT` is
written into every blob; `decode_state` refuses a format it does not know
rather than guess.

Format 1 states (written before exactly-once kept a content fingerprint and
before tickets had a status) still decode: their 10-byte id records get the
fingerprint `UNKNOWN_CONTENT` (a repeat with the same id and ts second is a
duplicate, with another ts a conflicting one), an invoice found both failed
and paid keeps the status its newest event gives, and tickets start with no
status (tickets opened before the upgrade are not counted as open).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypedDict, cast

import orjson

from schemas.events import MODEL_BY_TYPE, Event
from scoring.bounded import ID_RECORD, UNKNOWN_CONTENT
from scoring.decay import Series, day_of
from scoring.errors import ScoringError
from scoring.facts import (
    BillingFacts,
    Clock,
    Evidence,
    Memory,
    Money,
    Planned,
    Snapshot,
    Stamped,
    Status,
    SuccessFacts,
    SupportFacts,
    Terms,
    Ticket,
    UsageFacts,
)
from scoring.memo import memoized

FORMAT = 2
_FORMATS = (1, 2)
_V1_ID_RECORD = 10  # ts u32, id key u48: no fingerprint
_REGISTER = struct.Struct(">HH")  # register, days before the watermark's day


class EncodedState(Protocol):
    """What `encode_state` reads of an AccountState."""

    @property
    def account_id(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def usage(self) -> UsageFacts: ...
    @property
    def support(self) -> SupportFacts: ...
    @property
    def billing(self) -> BillingFacts: ...
    @property
    def success(self) -> SuccessFacts: ...
    @property
    def evidence(self) -> Evidence: ...
    @property
    def memory(self) -> Memory: ...
    @property
    def pending(self) -> tuple[Event, ...]: ...
    @property
    def pending_ticks(self) -> tuple[float, ...]: ...


class StateFields(TypedDict):
    """The fields of an AccountState, as `decode_state` gives them."""

    account_id: str
    clock: Clock
    usage: UsageFacts
    support: SupportFacts
    billing: BillingFacts
    success: SuccessFacts
    evidence: Evidence
    memory: Memory
    pending: tuple[Event, ...]
    pending_ticks: tuple[float, ...]


def _pack_ids(ids: bytes) -> str:
    """The packed exactly-once records (`scoring.bounded.id_record`: ts u32, id hash u48,
    big-endian) in base64: the state's bytes are the records' bytes."""
    return base64.b64encode(ids).decode()


def _unpack_ids(text: str, version: int) -> bytes:
    raw = base64.b64decode(text, validate=True)
    width = ID_RECORD if version >= 2 else _V1_ID_RECORD
    if len(raw) % width:
        raise ValueError(f"recent ids: {len(raw)} bytes is not a whole number of records")
    if width == ID_RECORD:
        return raw
    unknown = UNKNOWN_CONTENT.to_bytes(ID_RECORD - _V1_ID_RECORD, "big")
    return b"".join(raw[i : i + width] + unknown for i in range(0, len(raw), width))


def _pack_users(users: Mapping[int, int], max_ts: float | None) -> str:
    """Sketch registers as (register, age in days) pairs; ages past 179 years are clamped."""
    if not users or max_ts is None:
        return ""
    today = day_of(max_ts)
    raw = b"".join(_REGISTER.pack(r, min(0xFFFF, today - d)) for r, d in sorted(users.items()))
    return base64.b64encode(raw).decode()


def _unpack_users(text: str, max_ts: float | None) -> dict[int, int]:
    if not text or max_ts is None:
        return {}
    today = day_of(max_ts)
    return {
        r: today - age for r, age in _REGISTER.iter_unpack(base64.b64decode(text, validate=True))
    }


def _series(s: Series) -> list[Any]:
    return [s.anchor, s.folded, s.recent]  # orjson writes plain tuples as arrays


def _opt(value: tuple[Any, ...] | None) -> list[Any] | None:
    return None if value is None else list(value)


def _series_doc(series: Mapping[str, Series]) -> dict[str, list[Any]]:
    return {k: _series(v) for k, v in sorted(series.items())}


def _series_of(doc: Mapping[str, Any]) -> dict[str, Series]:
    return {
        k: Series(v[0], tuple(v[1]), tuple((d, n) for d, n in v[2]))
        for k, v in doc.get("x", {}).items()
    }


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, 0, (), [], {}, False)}


def _usage_doc(u: UsageFacts, max_ts: float | None) -> dict[str, Any]:
    return _drop_empty(
        {
            "f": dict(u.features),
            "u": _pack_users(u.users, max_ts),
            "x": _series_doc(u.series),
        }
    )


def _support_doc(s: SupportFacts) -> dict[str, Any]:
    return _drop_empty(
        {
            "o": s.opened,
            "r": s.resolved,
            "ro": s.reopened,
            "nps": _opt(s.last_nps),
            "tk": {k: list(v) for k, v in s.tickets.items()},
            "x": _series_doc(s.series),
        }
    )


def _billing_doc(b: BillingFacts) -> dict[str, Any]:
    return _drop_empty(
        {
            "t": _opt(b.terms),
            "st": _opt(b.status),
            "sg": _opt(b.segment),
            "t0": b.started_ts,
            "fi": {k: list(v) for k, v in b.failed.items()},
            "pi": dict(b.paid),
            "n": b.invoices_seen,
            "d": {k: list(v) for k, v in b.discounts.items()},
            "x": _series_doc(b.series),
        }
    )


def _success_doc(w: SuccessFacts) -> dict[str, Any]:
    return _drop_empty(
        {
            "g": dict(w.goals),
            "p": {k: list(v) for k, v in w.planned.items()},
            "c": dict(w.completed),
            "v": w.first_value_ts,
            "fit": {k: list(v) for k, v in w.fits.items()},
            "imp": _opt(w.importance),
            "x": _series_doc(w.series),
        }
    )


def _fragment_of(build: Callable[..., dict[str, Any]], *args: Any) -> orjson.Fragment:
    """`build(*args)` as sorted-key JSON, to be spliced into the state's JSON as it is."""
    return orjson.Fragment(orjson.dumps(build(*args), option=orjson.OPT_SORT_KEYS))


def encode_state(state: EncodedState, with_memory: bool = True) -> bytes:
    """The state as sorted-key JSON. A facts family that did not change since the last
    encode (most events touch one family) is not encoded again: its JSON is kept on the
    facts object's memo (the usage part with the watermark's day, which its sketch
    ages are relative to) and spliced in as is, so the bytes are the same."""
    c, u, s, b, w, m = (
        state.clock,
        state.usage,
        state.support,
        state.billing,
        state.success,
        state.memory,
    )
    today = None if c.max_ts is None else day_of(c.max_ts)
    doc: dict[str, Any] = {
        "f": FORMAT,
        "a": state.account_id,
        "c": _drop_empty(
            {
                "t": c.max_ts,
                "tf": list(c.family_max) if any(t is not None for t in c.family_max) else None,
                "t0": c.first_ts,
                "n": c.events_applied,
                "i": _pack_ids(c.recent_ids),
            }
        ),
        "u": memoized(u.memo, "json", (today,), _fragment_of, _usage_doc, u, c.max_ts),
        "s": memoized(s.memo, "json", (), _fragment_of, _support_doc, s),
        "b": memoized(b.memo, "json", (), _fragment_of, _billing_doc, b),
        "w": memoized(w.memo, "json", (), _fragment_of, _success_doc, w),
        "e": dict(sorted(state.evidence.items())),  # tuples of (ts, id) tuples: arrays
    }
    if with_memory:
        doc["m"] = _drop_empty(
            {
                "r": m.readiness,
                "s": m.success,
                "b": m.band,
                "t": m.tier,
                "p": m.potential,
                "hs": m.health_start,
                "h": list(m.health_points),
                "sn": [
                    [sn.ts, list(sn.features), sn.predicted, sn.model_version] for sn in m.snapshots
                ],
                "st": m.last_snapshot_ts,
                "hb": m.happiness,
                "ac": list(m.conditions),
                "af": [list(f) for f in m.fired],
                "em": _opt(m.emitted),
                "cv": m.covered_since,
                "ee": list(m.emitted_effects),
            }
        )
        if m.potential is False:
            doc["m"]["p"] = False
        if state.pending:  # events waiting to settle (`settle_hours`), as their JSON
            doc["pd"] = [e.model_dump(mode="json") for e in state.pending]
        if state.pending_ticks:
            doc["pt"] = list(state.pending_ticks)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _terms(v: list[Any] | None) -> Terms | None:
    return None if v is None else Terms(v[0], v[1], v[2], v[3], v[4], v[5])


def _stamped(v: list[Any] | None) -> Stamped | None:
    return None if v is None else Stamped(v[0], v[1], v[2])


def _money(d: Mapping[str, list[Any]]) -> dict[str, Money]:
    return {k: Money(v[0], v[1], v[2], v[3]) for k, v in d.items()}


def decode_state(data: bytes) -> StateFields:
    try:
        doc = orjson.loads(data)
        if doc.get("f") not in _FORMATS:
            raise ScoringError(f"unknown AccountState format {doc.get('f')!r}")
        return _decode(doc)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, struct.error) as exc:
        raise ScoringError(f"corrupt AccountState bytes: {exc}") from exc


def _invoices(
    failed: dict[str, Money], paid: dict[str, float]
) -> tuple[dict[str, Money], dict[str, float]]:
    """Each invoice in one of the two maps (format 1 could hold one in both): the status
    its newest event gives, a failure newer than the payment being outstanding."""
    for key in failed.keys() & paid.keys():
        if paid[key] >= failed[key].ts:
            del failed[key]
        else:
            del paid[key]
    return failed, paid


def _decode(doc: dict[str, Any]) -> StateFields:
    c, u, s, b, w, m = (doc.get(k, {}) for k in ("c", "u", "s", "b", "w", "m"))
    status = b.get("st")
    failed, paid = _invoices(_money(b.get("fi", {})), dict(b.get("pi", {})))
    return StateFields(
        account_id=doc["a"],
        clock=Clock(
            c.get("t"),
            c.get("t0"),
            c.get("n", 0),
            _unpack_ids(c.get("i", ""), doc["f"]),
            tuple(c.get("tf") or (None, None, None, None)),
        ),
        usage=UsageFacts(u.get("f", {}), _unpack_users(u.get("u", ""), c.get("t")), _series_of(u)),
        support=SupportFacts(
            opened=s.get("o", 0),
            resolved=s.get("r", 0),
            reopened=s.get("ro", 0),
            last_nps=_stamped(s.get("nps")),
            tickets={k: Ticket(v[0], v[1]) for k, v in s.get("tk", {}).items()},
            series=_series_of(s),
        ),
        billing=BillingFacts(
            terms=_terms(b.get("t")),
            status=None if status is None else Status(status[0], status[1], status[2]),
            segment=_stamped(b.get("sg")),
            started_ts=b.get("t0"),
            failed=failed,
            paid=paid,
            invoices_seen=b.get("n", 0),
            discounts=_money(b.get("d", {})),
            series=_series_of(b),
        ),
        success=SuccessFacts(
            goals=w.get("g", {}),
            planned={k: Planned(v[0], v[1], v[2], v[3]) for k, v in w.get("p", {}).items()},
            completed=w.get("c", {}),
            first_value_ts=w.get("v"),
            fits={k: Stamped(v[0], v[1], v[2]) for k, v in w.get("fit", {}).items()},
            importance=_stamped(w.get("imp")),
            series=_series_of(w),
        ),
        evidence={k: tuple((p[0], p[1]) for p in v) for k, v in doc.get("e", {}).items()},
        memory=Memory(
            readiness=m.get("r"),
            success=m.get("s"),
            band=m.get("b"),
            tier=m.get("t"),
            potential=m.get("p"),
            health_start=m.get("hs", 0),
            health_points=tuple(m.get("h", ())),
            snapshots=tuple(Snapshot(sn[0], tuple(sn[1]), sn[2], sn[3]) for sn in m.get("sn", ())),
            last_snapshot_ts=m.get("st"),
            happiness=m.get("hb"),
            conditions=tuple(m.get("ac", ())),
            fired=tuple((f[0], f[1]) for f in m.get("af", ())),
            emitted=None if (em := m.get("em")) is None else (em[0], em[1], em[2]),
            covered_since=m.get("cv"),
            emitted_effects=tuple(m.get("ee", ())),
        ),
        pending=tuple(
            cast(Event, MODEL_BY_TYPE[e["type"]].model_validate(e)) for e in doc.get("pd", ())
        ),
        pending_ticks=tuple(float(t) for t in doc.get("pt", ())),
    )
