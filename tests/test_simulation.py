"""The simulation follows the original's day-by-day rules, and a customer's data never depends on its block."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from erpgen.behaviour import BehaviourTables, simulate_block
from erpgen.catalog import build_catalog
from erpgen.config import Behaviour, make_config
from erpgen.customers import EPOCH
from erpgen.rng import Draws

N = 2000


def run(behaviour: Behaviour | None = None, *, n=N, block=N, **cfg_kw):
    cfg = make_config(n_customers=n, date_from="2020-01-01", date_till="2021-12-31", seed=3, **cfg_kw)
    if behaviour is not None:
        cfg = dataclasses.replace(cfg, behaviour=behaviour)
    catalog = build_catalog(
        seed=cfg.seed,
        n_devices=cfg.n_devices,
        n_accessories=cfg.n_accessories,
        n_spare_parts=cfg.n_spare_parts,
        n_refills=cfg.n_refills,
        n_bulk_refills=cfg.n_bulk_refills,
    )
    tables = BehaviourTables.from_behaviour(cfg.behaviour)
    ids = np.arange(1, n + 1)
    parts = [
        simulate_block(cfg, catalog, tables, ids[i : i + block], Draws(cfg.seed)) for i in range(0, n, block)
    ]
    cols = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(parts[0])}
    return cfg, catalog, cols


def simple(**kw) -> Behaviour:
    base = dict(
        p_buy_by_year=((0.05,),),
        p_close_day=(0.0,),
        p_invoice_by_nth=((1.0, 0.0),),
        p_device_by_nth=((0.0,),),
        refill_count_weights=((1.0,),),
        p_refill_invoice=1.0,
        p_accessory_invoice=(0.0,),
        p_spare_part_invoice=(0.0,),
    )
    base.update(kw)
    return Behaviour(**base)


def invoices(cols):
    keys = cols["customer_id"] * 10**7 + cols["invoice_seq"]
    _, first = np.unique(keys, return_index=True)
    return {k: v[first] for k, v in cols.items()}


def test_blocks_do_not_change_the_data():
    _, _, whole = run(n=600, block=600)
    _, _, pieces = run(n=600, block=37)
    for name in whole:
        assert np.array_equal(whole[name], pieces[name]), name


def test_daily_buy_probability_gives_the_expected_number_of_invoices():
    cfg, _, cols = run(simple())
    inv = invoices(cols)
    # each customer is active from creation to the end: expected invoices = 0.05 x active days
    from erpgen.customers import created_day

    days_active = (
        (np.datetime64("2021-12-31") - EPOCH).astype(int)
        + 1
        - created_day(cfg, np.arange(1, N + 1), Draws(3))
    )
    expected = 0.05 * days_active.sum()
    assert abs(len(inv["customer_id"]) / expected - 1) < 0.03


def test_year_schedule_changes_the_rate_at_the_customer_year():
    cfg, _, cols = run(simple(p_buy_by_year=((0.01, 0.2),)))
    inv = invoices(cols)
    from erpgen.customers import created_day

    created = created_day(cfg, inv["customer_id"], Draws(3))
    month0 = (EPOCH + created.astype("timedelta64[D]")).astype("datetime64[M]")
    boundary = ((month0 + np.timedelta64(12, "M")).astype("datetime64[D]") - EPOCH).astype(int)
    first_year = inv["invoice_date"] < boundary
    # per customer-day exposure in each period, over all customers
    all_created = created_day(cfg, np.arange(1, N + 1), Draws(3))
    all_month0 = (EPOCH + all_created.astype("timedelta64[D]")).astype("datetime64[M]")
    all_boundary = ((all_month0 + np.timedelta64(12, "M")).astype("datetime64[D]") - EPOCH).astype(int)
    end = (np.datetime64("2021-12-31") - EPOCH).astype(int) + 1
    exposure_1 = (np.minimum(all_boundary, end) - all_created).sum()
    exposure_2 = np.maximum(end - all_boundary, 0).sum()
    assert abs(first_year.sum() / exposure_1 / 0.01 - 1) < 0.1
    assert abs((~first_year).sum() / exposure_2 / 0.2 - 1) < 0.05


def test_lost_customers_stop_buying():
    cfg, _, cols = run(simple(p_buy_by_year=((0.2,),), p_close_day=(0.01,)))
    inv = invoices(cols)
    from erpgen.customers import created_day

    created = created_day(cfg, np.arange(1, N + 1), Draws(3))
    last = np.full(N + 1, -1)
    np.maximum.at(last, inv["customer_id"], inv["invoice_date"])
    span = last[1:] - created
    bought = last[1:] >= 0
    # lifetimes are geometric with mean ~99 days: very few customers still buy after 400 days
    assert np.median(span[bought]) < 120
    assert (span[bought] > 400).mean() < 0.03


def test_several_invoices_a_day_follow_p_invoice_by_nth():
    _, _, cols = run(simple(p_buy_by_year=((0.5,),), p_invoice_by_nth=((1.0, 1.0, 0.0),)))
    inv = invoices(cols)
    per_day = np.unique(inv["customer_id"] * 100_000 + inv["invoice_date"], return_counts=True)[1]
    assert per_day.max() == 2
    assert abs(per_day.mean() - 1.5) < 0.02  # the 2nd invoice comes with p_buy x 1.0 = 0.5


def test_invoice_day_cap():
    _, _, cols = run(simple(p_buy_by_year=((1.0,),), p_invoice_by_nth=((1.0,),)), n=3)
    inv = invoices(cols)
    per_day = np.unique(inv["customer_id"] * 100_000 + inv["invoice_date"], return_counts=True)[1]
    assert per_day.max() == 50


def test_device_ownership_and_refill_counts():
    cfg, catalog, cols = run(
        simple(p_device_by_nth=((1.0, 0.0),), refill_count_weights=((0.0, 0.0, 0.0, 1.0),))
    )
    devices = set(catalog.ids("DEVICE").tolist())
    is_device = np.isin(cols["product_id"], list(devices))
    per_customer = np.bincount(cols["customer_id"][is_device], minlength=N + 1)
    buyers = np.unique(cols["customer_id"])
    assert (per_customer[buyers] == 1).all()  # exactly one device, on the first invoice
    first_lines = cols["invoice_seq"] == 1
    assert is_device[first_lines].sum() == len(buyers)
    refills = np.isin(cols["product_id"], catalog.ids("REFILL"))
    per_invoice = np.unique(
        cols["customer_id"][refills] * 10**7 + cols["invoice_seq"][refills], return_counts=True
    )[1]
    assert (per_invoice == 4).all()


def test_revenue_is_quantity_times_price_and_stores_are_known():
    cfg, catalog, cols = run()
    prices = catalog.price_cents_by_id()
    assert (cols["revenue_cents"] == cols["quantity"] * prices[cols["product_id"]]).all()
    assert set(np.unique(cols["store_id"]).tolist()) <= set(range(101, 101 + cfg.n_stores))
    assert cols["revenue_cents"].sum() > 0


@pytest.mark.parametrize("only", ["n_devices", "n_accessories", "n_spare_parts"])
def test_single_category_catalogs_still_make_invoices(only):
    counts = {k: 0 for k in ("n_devices", "n_accessories", "n_spare_parts", "n_refills", "n_bulk_refills")}
    counts[only] = 3
    _, catalog, cols = run(n=200, **counts)
    assert len(cols["product_id"]) > 0
    assert set(np.unique(cols["product_id"]).tolist()) <= {p.product_id for p in catalog.products}
