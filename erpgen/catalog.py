"""The product universe (brands x templates, scents x sizes, bulk refills) and the sampled price list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from erpgen.rng import Stream, python_random

CATEGORIES = ("DEVICE", "REFILL", "ACCESSORY", "SPARE_PART")

DEVICE_BRANDS = ("AromaDrive", "BreezeLine", "FreshNest")
REFILL_BRANDS = ("Good Smell", "AromaWave", "FreshNest", "Citrus & Co", "BreezeLine")
DEVICE_TEMPLATES = (
    "Diffuser Machine - Home",
    "Diffuser Machine - Compact",
    "Nebulizer Machine - Pro",
    "Car Diffuser Machine - Clip",
    "Car Diffuser Machine - Mini",
)
ACCESSORY_TEMPLATES = (
    "Wall Bracket Mount",
    "Hanging Strap",
    "Decor Sticker Pack",
    "Protective Sleeve",
    "Travel Pouch",
    "Cable Organizer Clip",
    "Adhesive Mount Pad",
    "Car Vent Holder",
    "Desk Stand Base",
    "Cleaning Wipes Pack",
)
SPARE_PART_TEMPLATES = (
    "Replacement Cap",
    "Nozzle Holder",
    "Scent Cartridge Holder",
    "Seal Ring (O-Ring)",
    "Diffuser Wick Set",
    "Power Adapter",
    "USB Cable",
    "Clip Replacement",
)
SCENTS = ("Citrus", "Lavender", "Coffee", "Vanilla", "Ocean", "Jasmine", "Rose", "Mint", "Pine", "Chocolate")
REFILL_SIZES_G = (10, 20, 30, 50, 100)
BULK_REFILLS = (("Good Smell", "Citrus", 500), ("AromaWave", "Lavender", 500), ("FreshNest", "Coffee", 1000))

# Price model (currency units): category ranges x brand multiplier x +-8% noise, rounded to 0.50;
# refills are priced per gram plus a packaging fee, bulk (>= 500 g) cheaper per gram.
BASE_RANGES = {"DEVICE": (180.0, 650.0), "ACCESSORY": (12.0, 75.0), "SPARE_PART": (18.0, 140.0)}
BRAND_MULTIPLIER = {
    "FreshNest": 1.10,
    "AromaDrive": 1.05,
    "BreezeLine": 1.00,
    "Good Smell": 0.95,
    "AromaWave": 1.00,
    "Citrus & Co": 0.90,
}
PRICE_PER_G_SMALL, PRICE_PER_G_BULK = 0.55, 0.22
PACKAGING_FEE_SMALL, PACKAGING_FEE_BULK = 3.0, 12.0
NOISE_PCT = 0.08
ROUND_TO = 0.5


@dataclass(frozen=True)
class Product:
    product_id: int
    product_name: str
    brand: str
    category: str
    gramm_g: int | None
    unit_price_cents: int


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]

    def ids(self, category: str) -> np.ndarray:
        return np.array([p.product_id for p in self.products if p.category == category], dtype=np.int64)

    def price_cents_by_id(self) -> np.ndarray:
        """unit price in cents indexed by product_id (index 0 unused)."""
        out = np.zeros(len(self.products) + 1, dtype=np.int64)
        for p in self.products:
            out[p.product_id] = p.unit_price_cents
        return out


def _universe() -> dict[str, list[tuple[str, str, int | None]]]:
    """(name, brand, gramm_g) per pool, in a fixed order."""
    return {
        "DEVICE": [(f"{b} {t}", b, None) for b in DEVICE_BRANDS for t in DEVICE_TEMPLATES],
        "ACCESSORY": [(f"{b} {t}", b, None) for b in DEVICE_BRANDS for t in ACCESSORY_TEMPLATES],
        "SPARE_PART": [(f"{b} {t}", b, None) for b in DEVICE_BRANDS for t in SPARE_PART_TEMPLATES],
        "REFILL": [
            (f"{b} Refill Liquid {s} {g}", b, g)
            for b in REFILL_BRANDS
            for s in SCENTS
            for g in REFILL_SIZES_G
        ],
        "BULK_REFILL": [(f"{b} Refill Liquid {s} {g} (Industrial)", b, g) for b, s, g in BULK_REFILLS],
    }


def universe_sizes() -> dict[str, int]:
    return {k: len(v) for k, v in _universe().items()}


def _price_cents(rng, category: str, brand: str, gramm_g: int | None) -> int:
    noise = 1.0 + rng.uniform(-NOISE_PCT, NOISE_PCT)
    mult = BRAND_MULTIPLIER.get(brand, 1.0)
    if category == "REFILL":
        bulk = (gramm_g or 0) >= 500
        per_g = PRICE_PER_G_BULK if bulk else PRICE_PER_G_SMALL
        fee = PACKAGING_FEE_BULK if bulk else PACKAGING_FEE_SMALL
        price = ((gramm_g or 0) * per_g + fee) * mult * noise
    else:
        lo, hi = BASE_RANGES[category]
        price = rng.uniform(lo, hi) * mult * noise
    steps = max(1, round(price / ROUND_TO))
    return int(round(steps * ROUND_TO * 100))


def build_catalog(
    *, seed: int, n_devices: int, n_accessories: int, n_spare_parts: int, n_refills: int, n_bulk_refills: int
) -> Catalog:
    """Sample the product list from the universe: fixed counts per category, regular refills spread
    evenly over the refill brands, shuffled, numbered 1..N and priced."""
    rng = python_random(seed, Stream.CATALOG)
    pools = _universe()
    picks: list[tuple[str, str, str, int | None]] = []
    for pool, n in (("DEVICE", n_devices), ("ACCESSORY", n_accessories), ("SPARE_PART", n_spare_parts)):
        picks += [(name, brand, pool, g) for name, brand, g in rng.sample(pools[pool], n)]
    picks += [
        (name, brand, "REFILL", g) for name, brand, g in rng.sample(pools["BULK_REFILL"], n_bulk_refills)
    ]
    # Spread regular refills over the brands: quotas differ by at most one.
    brands = sorted(REFILL_BRANDS)
    for i, brand in enumerate(brands):
        quota = n_refills // len(brands) + (1 if i < n_refills % len(brands) else 0)
        brand_pool = [r for r in pools["REFILL"] if r[1] == brand]
        picks += [(name, b, "REFILL", g) for name, b, g in rng.sample(brand_pool, quota)]
    rng.shuffle(picks)
    products = tuple(
        Product(i, name, brand, category, g, _price_cents(rng, category, brand, g))
        for i, (name, brand, category, g) in enumerate(picks, start=1)
    )
    return Catalog(products)
