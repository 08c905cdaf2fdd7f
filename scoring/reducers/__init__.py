"""One reducer per event type: merge the event into the facts of a `Scratch`.

Every reducer uses an order-independent operation only (see
`scoring.bounded` and `scoring.decay`), and returns the evidence source
the event feeds (`scoring.outputs.SIGNAL_SOURCES`).
"""

from __future__ import annotations

from schemas.events import MODEL_BY_TYPE
from scoring.reducers import billing, success, support, usage
from scoring.scratch import Reducer

REDUCERS: dict[str, Reducer] = {
    **usage.REDUCERS,
    **support.REDUCERS,
    **billing.REDUCERS,
    **success.REDUCERS,
}
assert set(REDUCERS) == set(MODEL_BY_TYPE), "every event type needs a reducer"
