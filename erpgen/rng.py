"""Counter-based random numbers: every draw is a pure function of (seed, stream, customer, a, b).

Why not a sequential generator per block: a draw that depends only on the customer and on its position
in that customer's own history makes the data independent of how customers are cut into blocks, of the
write batch size, of the number of workers and of the order blocks run in. Any customer, and so any
block, can be made anywhere and the union is always the same dataset.

The key packs customer (32 bits), a (24 bits) and b (8 bits) into one 64-bit word, XORs a per-(seed,
stream) key and runs the SplitMix64 finaliser twice. SplitMix64's finaliser is a bijection with full
avalanche, so distinct inputs never collide and neighbouring counters give unrelated outputs.
Nothing here touches global random state.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S11, _S32, _S56 = np.uint64(11), np.uint64(32), np.uint64(56)
_INV_2_53 = 1.0 / (1 << 53)


class Stream(IntEnum):
    """One independent stream per purpose, so adding a draw somewhere never shifts another."""

    CUSTOMER = 1
    KNOBS = 2
    LOST = 3
    BUY_GAP = 4
    NTH_INVOICE = 5
    INVOICE = 6
    LINE = 7
    CATALOG = 8
    WEEKDAY = 10
    DORMANCY = 11
    RETURN = 12
    PRICE = 13
    QUANTITY = 14
    TIME = 15
    EXCHANGE_RATE = 16  # keyed by (day, currency's ISO number), not by customer
    ORDER = 17  # keyed by (customer, invoice number): the invoice's order, delivery and payment
    RETURN_REASON = 18  # keyed by (customer, invoice key)


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, in place on a uint64 array `x` (no temporaries but one shifted copy)."""
    t = np.right_shift(x, _S30)
    x ^= t
    x *= _M1
    np.right_shift(x, _S27, out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, _S31, out=t)
    x ^= t
    return x


def stream_key(seed: int, stream: int) -> np.uint64:
    digest = hashlib.blake2b(f"erpgen:{seed}:{stream}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


class Draws:
    """Uniform and derived draws for one seed. Arrays in, arrays out; no state changes between calls."""

    def __init__(self, seed: int):
        self.seed = seed
        self._keys = {s: stream_key(seed, s) for s in Stream}
        self._specs: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def bits(self, stream: Stream, customer: np.ndarray, a: np.ndarray | int = 0, b: np.ndarray | int = 0):
        return self._bits(self._keys[stream], customer, a, b)

    def _bits(self, key, customer, a, b) -> np.ndarray:
        if np.ndim(a) == 0 and np.ndim(b) == 0 and np.ndim(key) == 0:
            shape = np.shape(customer)  # the common case, without the general broadcast's cost
        else:
            shape = np.broadcast_shapes(np.shape(customer), np.shape(a), np.shape(b), np.shape(key))
        x = np.empty(shape, dtype=np.uint64)
        x[...] = customer  # a new array: _mix works in place (array arithmetic wraps without warnings)
        x |= np.asarray(a, dtype=np.uint64) << _S32
        x |= np.asarray(b, dtype=np.uint64) << _S56
        x ^= key
        return _mix(_mix(x))

    def uniform(self, stream: Stream, customer: np.ndarray, a: np.ndarray | int = 0, b: np.ndarray | int = 0):
        """Uniform floats in the open interval (0, 1)."""
        return _to_unit(self.bits(stream, customer, a, b))

    def uniforms(self, stream: Stream, customer: np.ndarray, a=0, b=0, offsets=(0,)) -> np.ndarray:
        """Several uniforms per element in one pass: column j is uniform(stream, customer, a, b + offsets[j])
        (the same numbers as separate calls; fewer numpy calls for the event loop's small arrays)."""
        return self.columns(customer, a, b, tuple((stream, offset) for offset in offsets))

    def columns(self, customer: np.ndarray, a, b, spec) -> np.ndarray:
        """Like uniforms, each column from its own stream: column j is
        uniform(spec[j][0], customer, a, b + spec[j][1])."""
        keys, offsets = self._spec(tuple(spec))
        col = np.asarray(customer)[:, None]
        a = np.asarray(a)[:, None] if np.ndim(a) else a
        b = (np.asarray(b, dtype=np.int64)[:, None] if np.ndim(b) else b) + offsets
        return _to_unit(self._bits(keys, col, a, b))

    def _spec(self, spec: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The keys and offsets of a columns() spec, made once per spec."""
        made = self._specs.get(spec)
        if made is None:
            keys = np.array([self._keys[stream] for stream, _ in spec], dtype=np.uint64)
            made = self._specs[spec] = (keys, np.array([offset for _, offset in spec], dtype=np.int64))
        return made

    def integers(self, stream: Stream, n: int | np.ndarray, customer, a=0, b=0) -> np.ndarray:
        """Integers in [0, n) (n may be an array)."""
        u = self.uniform(stream, customer, a, b)
        return np.minimum((u * n).astype(np.int64), np.asarray(n, dtype=np.int64) - 1)

    def normal(self, stream: Stream, customer, a=0, b=0) -> np.ndarray:
        """Standard normal draws (Box-Muller on two keyed uniforms)."""
        u1 = self.uniform(stream, customer, a, b)
        u2 = self.uniform(stream, customer, a, np.asarray(b, dtype=np.uint64) + np.uint64(128))
        return normal_of(u1, u2)

    def geometric_failures(self, p: np.ndarray, stream: Stream, customer, a=0, b=0) -> np.ndarray:
        """Number of failed daily trials before the first success, for success probability p.

        p == 0 gives a very large number (the event never happens within any date range erpgen allows).
        """
        return geometric_of(self.uniform(stream, customer, a, b), p)


def _to_unit(bits: np.ndarray) -> np.ndarray:
    """The top 53 bits as a float in the open interval (0, 1)."""
    return ((bits >> _S11).astype(np.float64) + 0.5) * _INV_2_53


def normal_of(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normal draws from two uniforms (Box-Muller): Draws.normal is normal_of(u(b), u(b + 128))."""
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def geometric_below_of(u: np.ndarray, p, n: int) -> np.ndarray:
    """geometric_of's draw given that it is below `n`: the same inverse transform, with u moved into
    (q^n, 1) (q = 1 - p), where the untruncated law puts the draws below n. Where q^n is far below u
    (a cut far in the tail) u hardly moves, and the draw is geometric_of's but for rounding."""
    p = np.asarray(p, dtype=np.float64)
    q_n = np.exp(n * np.log1p(-np.clip(p, 0.0, 1.0 - 1e-16)))
    return np.minimum(geometric_of(q_n + u * (1.0 - q_n), p), n - 1)


def geometric_of(u: np.ndarray, p) -> np.ndarray:
    """Draws.geometric_failures from its uniform."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log(u) / np.log1p(-np.minimum(p, 1.0 - 1e-16)))
    k = np.where(p <= 0.0, 1e9, np.where(p >= 1.0, 0.0, k))
    return np.minimum(k, 1e9).astype(np.int64)


def python_random(seed: int, stream: Stream):
    """A seeded stdlib Random for the small, master-data side (catalog sampling, Faker pools)."""
    import random

    return random.Random(int(stream_key(seed, stream)))
