"""Building output models from values that are valid by construction, without validation.

`ScoreRecord.model_construct` costs ~7 us (it walks every field and alias);
this does only what model_construct ends with. `values` must name every
field of the model. `tests/unit/scoring/test_trusted.py` re-validates built
records against the schema so the shortcut cannot drift from it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
