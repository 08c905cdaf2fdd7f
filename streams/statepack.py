"""The state table's value: where the account's events were read up to, and its state.

    b"\\x00hs2" | positions (partition i32, offset i64 per event family) | zstd(state)

The state (`AccountState.to_bytes()`, compact JSON) is compressed with zstd
level 1 and a dictionary trained on typical states (`streams/state_v1.zdict`,
made by `python -m bench.train_state_dict`): 3.3 KB of JSON becomes ~1.5 KB,
for ~14 us to compress and ~5 us to decompress. The dictionary is part of the
format: it is never changed; a new one would come with a new magic. Bare
states (JSON, starting with `{`: what the table held before positions were
kept) are still read.
"""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

import zstandard

from schemas.events import Family

FAMILIES = tuple(Family)
Positions = tuple[int, ...]
"""Partition and offset of the last record applied, per family in FAMILIES order; -1 = none."""
NO_POSITIONS: Positions = (-1, -1) * len(FAMILIES)
FAMILY_INDEX = {family: i for i, family in enumerate(FAMILIES)}

_POSITIONS = struct.Struct(">" + "iq" * len(FAMILIES))
_V2 = b"\x00hs2"  # positions + zstd(JSON) with the v1 dictionary
_HEADER = len(_V2) + _POSITIONS.size
DICTIONARY = Path(__file__).with_name("state_v1.zdict")


@cache
def _codecs() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    data = zstandard.ZstdCompressionDict(DICTIONARY.read_bytes())
    return (
        zstandard.ZstdCompressor(level=1, dict_data=data, write_content_size=True),
        zstandard.ZstdDecompressor(dict_data=data),
    )


def pack_value(positions: Positions, state: bytes) -> bytes:
    return _V2 + _POSITIONS.pack(*positions) + _codecs()[0].compress(state)


def unpack_value(value: bytes) -> tuple[Positions, bytes]:
    """The positions and the state's JSON bytes, from any value format written so far."""
    if value.startswith(_V2):
        return _POSITIONS.unpack_from(value, len(_V2)), _codecs()[1].decompress(value[_HEADER:])
    return NO_POSITIONS, value
