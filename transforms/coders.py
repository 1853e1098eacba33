"""How Beam encodes the pipeline's key, so that it groups by sign on every runner.

A GroupByKey needs a deterministic encoding of its key. Beam's default coder encodes a
NamedTuple deterministically only through a fallback that pickles the type and warns once
per worker; this coder writes the three fields themselves.
"""

from __future__ import annotations

from typing import Any

from apache_beam.coders import coders
from apache_beam.coders.typecoders import registry

from keypoints.corpus import SignKey


class SignKeyCoder(coders.Coder):
    _fields = coders.TupleCoder(
        [coders.StrUtf8Coder(), coders.StrUtf8Coder(), coders.VarIntCoder()]
    )

    def encode(self, value: SignKey) -> bytes:
        encoded: bytes = self._fields.encode(tuple(value))
        return encoded

    def decode(self, encoded: bytes) -> SignKey:
        return SignKey(*self._fields.decode(encoded))

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self) -> Any:
        return SignKey


registry.register_coder(SignKey, SignKeyCoder)
