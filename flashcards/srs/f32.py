"""IEEE single-precision arithmetic on Python floats, as Anki's interval maths uses it.

Place in the data flow: helpers for `fuzz` and `sm2`; pure, stdlib only.

Anki computes intervals in Rust `f32` (docs/anki-sm2.md §2). A Python float
holds every f32 exactly, and one +, −, × or ÷ of two f32 values done in double
precision and then rounded to f32 gives the correctly rounded f32 result
(double has more than 2 × 24 + 2 mantissa bits), so rounding after each
operation reproduces Anki bit for bit.
"""

from __future__ import annotations

import math
import struct

_F32 = struct.Struct("<f")
_U32_MAX = 0xFFFFFFFF


def f32(value: float) -> float:
    """Round a float to the nearest f32 (ties to even), as Rust's `as f32` does."""
    try:
        result: float = _F32.unpack(_F32.pack(value))[0]
    except OverflowError:  # beyond f32's range: Rust gives an infinity
        return math.copysign(math.inf, value)
    return result


def mul(a: float, b: float) -> float:
    """`a * b` in f32."""
    return f32(f32(a) * f32(b))


def add(a: float, b: float) -> float:
    """`a + b` in f32."""
    return f32(f32(a) + f32(b))


def sub(a: float, b: float) -> float:
    """`a - b` in f32."""
    return f32(f32(a) - f32(b))


def div(a: float, b: float) -> float:
    """`a / b` in f32."""
    return f32(f32(a) / f32(b))


def round_half_away(value: float) -> float:
    """Rust's `f32::round`: halves go away from zero (not Python's half-to-even).

    `floor(x + 0.5)` is evaluated in double, where it is exact for every f32,
    so 0.49999997 stays 0 (as it must) instead of becoming 1.
    """
    if value >= 0:
        return float(math.floor(value + 0.5))
    return -float(math.floor(-value + 0.5))


def to_u32(value: float) -> int:
    """Rust's saturating `f32 as u32`: truncate, clamp to [0, 2**32-1], NaN to 0."""
    if math.isnan(value) or value <= 0:
        return 0
    if value >= _U32_MAX:
        return _U32_MAX
    return math.trunc(value)
