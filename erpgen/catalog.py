"""The product universe (brands x templates, scents x sizes, bulk refills) and the sampled price list."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from erpgen.rng import Stream, python_random

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


# Gym + coffee retailer (the second seed): apparel, coffee, equipment, wholesale coffee for B2B cafes.
APPAREL_STYLES = (  # (style, list price)
    ("Relaxed Hoodie", 75.0), ("Crew Sweatshirt", 65.0), ("Essential Tee", 30.0), ("Training Shorts", 38.0),
    ("Sculpt Leggings", 60.0), ("Everyday Joggers", 68.0), ("Quarter Zip", 80.0), ("Sports Bra", 40.0),
    ("Running Jacket", 95.0), ("Oversized Tee", 35.0), ("Cycling Shorts", 45.0), ("Rib Tank", 28.0),
)  # fmt: skip
APPAREL_COLOURS = ("Black", "Navy", "Oat", "Sage", "Charcoal", "Mocha", "Stone", "Dusk Blue")
APPAREL_SIZES = ("XS", "S", "M", "L", "XL")
COFFEE_BLENDS = (
    "House Blend", "Morning Sprint", "Dark Roast", "Decaf", "Espresso", "Colombia Single Origin",
    "Ethiopia Single Origin", "Brazil Santos", "Guatemala Antigua", "Cold Brew",
)  # fmt: skip
COFFEE_SIZES = ((250, 14.0), (1000, 42.0))
COFFEE_GRINDS = ("Whole Bean", "Ground")
EQUIPMENT = (
    ("Shaker Bottle", 15.0), ("Insulated Bottle", 32.0), ("Coffee Grinder", 89.0), ("Pour-Over Kit", 45.0),
    ("Travel Mug", 25.0), ("Gym Bag", 65.0), ("Yoga Mat", 55.0), ("Resistance Bands", 22.0),
    ("Water Bottle 1L", 20.0), ("French Press", 39.0),
)  # fmt: skip
WHOLESALE_COFFEE = (("House Blend", 5000, 135.0), ("Espresso", 5000, 145.0), ("Dark Roast", 5000, 140.0))


@dataclass(frozen=True)
class Product:
    product_id: int
    product_name: str
    brand: str
    category: str
    role: str
    gramm_g: int | None
    unit_price_cents: int


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    categories: tuple[tuple[str, str], ...]  # (category, role)

    def ids(self, role: str) -> np.ndarray:
        return np.array([p.product_id for p in self.products if p.role == role], dtype=np.int64)

    def price_cents_by_id(self) -> np.ndarray:
        """unit price in cents indexed by product_id (index 0 unused)."""
        out = np.zeros(len(self.products) + 1, dtype=np.int64)
        for p in self.products:
            out[p.product_id] = p.unit_price_cents
        return out

    def gramm_by_id(self) -> np.ndarray:
        out = np.zeros(len(self.products) + 1, dtype=np.int64)
        for p in self.products:
            out[p.product_id] = p.gramm_g or 0
        return out


# A pool item: (name, brand, category, gramm_g, list price or None for the air-freshener price model)
Item = tuple[str, str, str, int | None, float | None]


def _air_freshener() -> dict[str, list[Item]]:
    """Pools by flag: DEVICE, ACCESSORY, SPARE_PART, REFILL, BULK_REFILL."""
    return {
        "DEVICE": [(f"{b} {t}", b, "DEVICE", None, None) for b in DEVICE_BRANDS for t in DEVICE_TEMPLATES],
        "ACCESSORY": [
            (f"{b} {t}", b, "ACCESSORY", None, None) for b in DEVICE_BRANDS for t in ACCESSORY_TEMPLATES
        ],
        "SPARE_PART": [
            (f"{b} {t}", b, "SPARE_PART", None, None) for b in DEVICE_BRANDS for t in SPARE_PART_TEMPLATES
        ],
        "REFILL": [
            (f"{b} Refill Liquid {s} {g}", b, "REFILL", g, None)
            for b in REFILL_BRANDS
            for s in SCENTS
            for g in REFILL_SIZES_G
        ],
        "BULK_REFILL": [
            (f"{b} Refill Liquid {s} {g} (Industrial)", b, "REFILL", g, None) for b, s, g in BULK_REFILLS
        ],
    }


def _gym_coffee() -> dict[str, list[Item]]:
    brand = "Source"
    return {
        "DEVICE": [(name, brand, "EQUIPMENT", None, price) for name, price in EQUIPMENT],
        "ACCESSORY": [
            (f"{style} - {colour} - {size}", brand, "APPAREL", None, price)
            for style, price in APPAREL_STYLES
            for colour in APPAREL_COLOURS
            for size in APPAREL_SIZES
        ],
        "SPARE_PART": [],
        "REFILL": [
            (f"{blend} Coffee {grind} {g}g", f"{brand} Coffee", "COFFEE", g, price)
            for blend in COFFEE_BLENDS
            for g, price in COFFEE_SIZES
            for grind in COFFEE_GRINDS
        ],
        "BULK_REFILL": [
            (f"{blend} Coffee Beans {g // 1000}kg (Wholesale)", f"{brand} Coffee", "COFFEE", g, price)
            for blend, g, price in WHOLESALE_COFFEE
        ],
    }


GENERIC_ITEMS = 10_000


def _generic() -> dict[str, list[Item]]:
    """Numbered items of one category and no names of their own: the catalog of a fitted twin (erpgen fit),
    priced by build_catalog from the scenario's price_median and price_spread."""
    items = [(f"Item {i:05d}", "Generic", "ITEM", None, None) for i in range(1, GENERIC_ITEMS + 1)]
    return {"DEVICE": [], "ACCESSORY": items, "SPARE_PART": [], "REFILL": [], "BULK_REFILL": []}


UNIVERSES = {"air-freshener": _air_freshener, "gym-coffee": _gym_coffee, "generic": _generic}
ROLE_OF_POOL = {"DEVICE": "DEVICE", "ACCESSORY": "ACCESSORY", "SPARE_PART": "SPARE_PART", "REFILL": "REFILL",
                "BULK_REFILL": "REFILL"}  # fmt: skip


def universe_sizes(universe: str = "air-freshener") -> dict[str, int]:
    return {k: len(v) for k, v in UNIVERSES[universe]().items()}


def _price_cents(rng, category: str, brand: str, gramm_g: int | None, list_price: float | None) -> int:
    noise = 1.0 + rng.uniform(-NOISE_PCT, NOISE_PCT)
    mult = BRAND_MULTIPLIER.get(brand, 1.0)
    if list_price is not None:
        price = list_price * noise
    elif category == "REFILL":
        bulk = (gramm_g or 0) >= 500
        per_g = PRICE_PER_G_BULK if bulk else PRICE_PER_G_SMALL
        fee = PACKAGING_FEE_BULK if bulk else PACKAGING_FEE_SMALL
        price = ((gramm_g or 0) * per_g + fee) * mult * noise
    else:
        lo, hi = BASE_RANGES[category]
        price = rng.uniform(lo, hi) * mult * noise
    steps = max(1, round(price / ROUND_TO))
    return int(round(steps * ROUND_TO * 100))


def _lognormal_prices(n: int, median: float, spread: float) -> list[int]:
    """n list prices in cents at evenly spaced quantiles of a lognormal: the spread is met exactly by even
    a small catalog, and no price depends on a draw."""
    from statistics import NormalDist

    z = [NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)]
    return [max(1, round(median * math.exp(spread * x) * 100)) for x in z]


def build_catalog(
    *,
    seed: int,
    n_devices: int,
    n_accessories: int,
    n_spare_parts: int,
    n_refills: int,
    n_bulk_refills: int,
    universe: str = "air-freshener",
    price_median: float = 20.0,
    price_spread: float = 0.5,
) -> Catalog:
    """Sample the product list from the universe: fixed counts per pool, regular refills spread evenly
    over the refill brands, shuffled, numbered 1..N and priced."""
    rng = python_random(seed, Stream.CATALOG)
    pools = UNIVERSES[universe]()
    picks: list[tuple[Item, str]] = []
    for pool, n in (("DEVICE", n_devices), ("ACCESSORY", n_accessories), ("SPARE_PART", n_spare_parts)):
        picks += [(item, pool) for item in rng.sample(pools[pool], n)]
    picks += [(item, "REFILL") for item in rng.sample(pools["BULK_REFILL"], n_bulk_refills)]
    # Spread regular refills over their brands: quotas differ by at most one.
    brands = sorted({item[1] for item in pools["REFILL"]})
    for i, brand in enumerate(brands):
        quota = n_refills // len(brands) + (1 if i < n_refills % len(brands) else 0)
        brand_pool = [r for r in pools["REFILL"] if r[1] == brand]
        picks += [(item, "REFILL") for item in rng.sample(brand_pool, quota)]
    rng.shuffle(picks)
    if universe == "generic":
        prices = _lognormal_prices(len(picks), price_median, price_spread)
        rng.shuffle(prices)  # popularity follows the product id: a popular item is not the cheapest
    else:
        prices = [None] * len(picks)
    products = tuple(
        Product(
            i, name, brand, category, role, g,
            _price_cents(rng, category, brand, g, price) if cents is None else cents,
        )
        for i, (((name, brand, category, g, price), role), cents) in enumerate(zip(picks, prices), start=1)
    )  # fmt: skip
    categories = tuple(sorted({(p.category, p.role) for p in products}))
    return Catalog(products, categories)
