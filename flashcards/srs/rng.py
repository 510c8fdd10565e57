"""The random numbers behind fuzz and step jitter, bit-identical to Anki's.

Place in the data flow: `sm2.answer` turns the answer's seed (the service passes
card id + reps before the answer) into one fuzz factor and, for learning steps,
one jitter; nothing else in the package draws random numbers.

Anki (rand 0.9) draws from `StdRng::seed_from_u64(seed)`. That generator is
ChaCha with 12 rounds, keyed by eight outputs of a PCG32 (XSH-RR) stream started
from the 64-bit seed; counter and stream id start at zero. Every number Anki
needs comes from the first block of that stream, so this module computes only
that block. Written from the published algorithm descriptions (D. J. Bernstein's
ChaCha, M. O'Neill's PCG), not from any implementation.
"""

from __future__ import annotations

from functools import lru_cache

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF

# PCG's 64-bit LCG multiplier and increment, as rand_core uses them to spread a
# u64 seed over a 32-byte key.
_PCG_MULTIPLIER = 6364136223846793005
_PCG_INCREMENT = 11634580027462260723

# "expand 32-byte k" as four little-endian words.
_CHACHA_CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
_STD_RNG_ROUNDS = 12


def _rotl32(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK32


def _rotr32(value: int, shift: int) -> int:
    shift &= 31
    if shift == 0:
        return value
    return ((value >> shift) | (value << (32 - shift))) & _MASK32


def pcg32_key(seed: int) -> tuple[int, ...]:
    """Expand a u64 seed into eight key words the way `seed_from_u64` does.

    The state is advanced before each output (so a low-weight seed such as 0
    still gives a well-mixed key); each output is PCG's XSH-RR permutation.
    """
    state = seed & _MASK64
    words = []
    for _ in range(8):
        state = (state * _PCG_MULTIPLIER + _PCG_INCREMENT) & _MASK64
        xorshifted = (((state >> 18) ^ state) >> 27) & _MASK32
        words.append(_rotr32(xorshifted, state >> 59))
    return tuple(words)


def chacha_block(
    key: tuple[int, ...], *, counter: int = 0, stream: int = 0, rounds: int = 20
) -> tuple[int, ...]:
    """One 16-word ChaCha block for a 256-bit key (8 words), 64-bit counter/stream."""
    if len(key) != 8:
        raise ValueError(f"ChaCha key must be 8 words, got {len(key)}")
    if rounds <= 0 or rounds % 2:
        raise ValueError(f"ChaCha rounds must be a positive even number, got {rounds}")
    initial = [
        *_CHACHA_CONSTANTS,
        *key,
        counter & _MASK32,
        (counter >> 32) & _MASK32,
        stream & _MASK32,
        (stream >> 32) & _MASK32,
    ]
    x = list(initial)

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] = (x[a] + x[b]) & _MASK32
        x[d] = _rotl32(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & _MASK32
        x[b] = _rotl32(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & _MASK32
        x[d] = _rotl32(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & _MASK32
        x[b] = _rotl32(x[b] ^ x[c], 7)

    for _ in range(rounds // 2):
        # column round, then diagonal round
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return tuple((w + i) & _MASK32 for w, i in zip(x, initial, strict=True))


@lru_cache(maxsize=4096)
def std_rng_words(seed: int) -> tuple[int, ...]:
    """The first 16 u32 outputs of rand 0.9's `StdRng::seed_from_u64(seed)`.

    `seed` is taken modulo 2**64, as Anki's wrapping `card_id + reps` is.
    """
    return chacha_block(pcg32_key(seed), rounds=_STD_RNG_ROUNDS)


def fuzz_factor(seed: int) -> float:
    """`random_range(0.0..1.0)` as an f32 (returned exactly as a Python float).

    rand builds a float in [1, 2) from the top 23 bits of one u32 and subtracts
    1, which is exactly (u32 >> 9) / 2**23.
    """
    return (std_rng_words(seed)[0] >> 9) / float(1 << 23)


def random_u32_below(seed: int, bound: int) -> int:
    """`random_range(0..bound)` for u32 on a fresh generator, as rand 0.9 samples it.

    rand's single-sample path (Canon's method, the default "biased" variant):
    the high word of u32 × range is the result; when the low word is in the
    top `range` values, the high word of a second draw × range may carry one
    into it. No rejection loop, so at most two u32s are consumed.
    """
    if not 0 < bound <= _MASK32:
        raise ValueError(f"bound must be in 1..2**32-1, got {bound}")
    words = std_rng_words(seed)
    product = words[0] * bound
    result, low = product >> 32, product & _MASK32
    if low > ((-bound) & _MASK32):
        carry_in = (words[1] * bound) >> 32
        if low + carry_in > _MASK32:
            result += 1
    return result
