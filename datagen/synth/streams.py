"""Row streams in bulk: what ``np.random.default_rng([seed, index])`` draws, for many indices at once.

Every row draws from its own generator, ``default_rng([seed, index])`` (numpy's SeedSequence hashing the
two numbers into a PCG64 state). Making one costs ~15 us, more than the rest of planning a row. This module
computes the same seeding (SeedSequence's hash mix, PCG64's ``srandom``) and the same PCG64 steps (128-bit
LCG, XSL-RR output, 53-bit doubles) with numpy arrays over a whole chunk of rows, bit for bit what numpy's
own generators give (``tests/datagen/test_synth_streams.py`` checks them against numpy). ``generator``
hands one row's stream, at any point, back to numpy as an ordinary ``Generator``.
"""

from __future__ import annotations

import numpy as np

_M32 = np.uint64(0xFFFFFFFF)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4
# PCG64's 128-bit multiplier, as (high, low) 64-bit halves
_MUL_HI, _MUL_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)


def _words(n: int) -> list[int]:
    """A non-negative int as SeedSequence takes it: little-endian 32-bit words, at least one."""
    words = [n & 0xFFFFFFFF]
    n >>= 32
    while n:
        words.append(n & 0xFFFFFFFF)
        n >>= 32
    return words


class _Hash:
    """SeedSequence's ``hashmix`` with its running multiplier (the same for every row: it depends only on how
    many values were hashed before)."""

    def __init__(self) -> None:
        self.const = _INIT_A

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(self.const)
        self.const = (self.const * _MULT_A) & 0xFFFFFFFF
        value = value * np.uint32(self.const)
        return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return result ^ (result >> np.uint32(16))


def _pool(seed: int, indices: np.ndarray) -> list[np.ndarray]:
    """SeedSequence([seed, index]).pool for every index (< 2**32): four uint32 arrays."""
    entropy = [np.full(len(indices), w, dtype=np.uint32) for w in _words(seed)]
    entropy.append(indices.astype(np.uint32))
    hashmix = _Hash()
    zero = np.zeros(len(indices), dtype=np.uint32)
    pool = [hashmix(entropy[i] if i < len(entropy) else zero) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], hashmix(entropy[src]))
    return pool


def _state_words(pool: list[np.ndarray]) -> list[np.ndarray]:
    """SeedSequence.generate_state(4, np.uint64): four uint64 arrays."""
    const = _INIT_B
    words = []
    for i in range(8):
        value = pool[i % _POOL] ^ np.uint32(const)
        const = (const * _MULT_B) & 0xFFFFFFFF
        value = value * np.uint32(const)
        words.append((value ^ (value >> np.uint32(16))).astype(np.uint64))
    return [words[2 * k] | (words[2 * k + 1] << np.uint64(32)) for k in range(4)]


def _mul_hi(a: np.ndarray, b: np.uint64) -> np.ndarray:
    """High 64 bits of the 128-bit product of uint64 arrays ``a`` and the constant ``b``."""
    a0, a1 = a & _M32, a >> np.uint64(32)
    b0, b1 = b & _M32, b >> np.uint64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> np.uint64(32)) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))


class Streams:
    """The generators ``default_rng([seed, index])`` of many rows, stepped together."""

    def __init__(self, seed: int, indices: np.ndarray) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= 2**32):
            raise ValueError("row indices must be in [0, 2**32)")
        with np.errstate(over="ignore"):
            s_hi, s_lo, q_hi, q_lo = _state_words(_pool(seed, indices))
            # PCG64 srandom: inc = (initseq << 1) | 1; state = 0; step; state += initstate; step
            self.inc_hi = (q_hi << np.uint64(1)) | (q_lo >> np.uint64(63))
            self.inc_lo = (q_lo << np.uint64(1)) | np.uint64(1)
            self.hi, self.lo = self.inc_hi.copy(), self.inc_lo.copy()  # the first step from state 0
            lo = self.lo + s_lo
            self.hi = self.hi + s_hi + (lo < self.lo).astype(np.uint64)
            self.lo = lo
            self._step()

    def __len__(self) -> int:
        return len(self.lo)

    def _step(self) -> None:
        hi, lo = self.hi, self.lo
        new_hi = _mul_hi(lo, _MUL_LO) + lo * _MUL_HI + hi * _MUL_LO
        new_lo = lo * _MUL_LO
        lo = new_lo + self.inc_lo
        self.hi = new_hi + self.inc_hi + (lo < new_lo).astype(np.uint64)
        self.lo = lo

    def next_uint64(self) -> np.ndarray:
        """Every row's next 64-bit output (PCG64: step, then XSL-RR of the new state)."""
        with np.errstate(over="ignore"):
            self._step()
            xored = self.hi ^ self.lo
            rot = self.hi >> np.uint64(58)
            return (xored >> rot) | (xored << ((np.uint64(64) - rot) & np.uint64(63)))

    def random(self, k: int) -> np.ndarray:
        """Every row's next ``k`` doubles in [0, 1), as ``Generator.random(k)`` draws them: (rows, k)."""
        out = np.empty((len(self), k), dtype=np.float64)
        for j in range(k):
            out[:, j] = (self.next_uint64() >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        return out

    def generator(self, row: int, bit_generator: np.random.PCG64 | None = None) -> np.random.Generator:
        """Row ``row``'s stream from here on, as a numpy Generator (draws of any kind then continue it).
        ``bit_generator``: a PCG64 to set to the row's state (making a new one costs ~10 us); the
        Generator then shares it."""
        bit_generator = np.random.PCG64(0) if bit_generator is None else bit_generator
        bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {
                "state": (int(self.hi[row]) << 64) | int(self.lo[row]),
                "inc": (int(self.inc_hi[row]) << 64) | int(self.inc_lo[row]),
            },
            "has_uint32": 0,
            "uinteger": 0,
        }
        return np.random.Generator(bit_generator)
