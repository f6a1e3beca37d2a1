"""The simulation's prefix property, on which `erpgen extend` rests: a customer's history is a function of
(seed, customer, model) that the horizon only truncates. Simulating to T2 gives, for the days up to T1,
exactly the rows, lifecycle truth and events of the run to T1; customers after the N-th arrive after the
range at its rate, in id order."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from erpgen.config import make_config
from erpgen.customers import build_customers, created_day, customers_by
from erpgen.dates import NO_DAY, day_number
from erpgen.masters import catalog_for
from erpgen.rng import Draws
from erpgen.simulation import Model, Rates, simulate_block

LINE_FIELDS = ("customer_id", "invoice_seq", "is_credit", "invoice_date", "product_id", "quantity",
               "unit_price_cents", "revenue_cents", "store_id")  # fmt: skip


def _model(horizon=None, **params):
    cfg = make_config(n_customers=800, date_from="2018-01-01", date_till="2020-06-30", seed=5, **params)
    return Model(cfg, catalog_for(cfg), Rates(p_one_time=0.3), horizon=horizon)


def test_a_longer_horizon_only_adds_rows_after_the_shorter_ones_end():
    short = _model()
    t1 = day_number(short.cfg.date_till)
    for horizon in (dt.date(2020, 7, 1), dt.date(2021, 1, 1), dt.date(2023, 12, 31)):
        long = dataclasses.replace(short, horizon=horizon)
        ids = np.arange(1, 801)
        a = simulate_block(short, ids, Draws(5))
        b = simulate_block(long, ids, Draws(5))
        old = b.invoice_date <= t1
        for name in LINE_FIELDS:
            assert np.array_equal(getattr(a, name), getattr(b, name)[old]), name
        # the line a credit note gives back: the same line, counted among the rows up to T1
        where = np.cumsum(old) - 1
        assert np.array_equal(a.returned, np.where(b.returned[old] >= 0, where[b.returned[old]], -1))
        assert np.array_equal(a.first_purchase, np.where(b.first_purchase <= t1, b.first_purchase, NO_DAY))
        assert np.array_equal(a.lost, np.where(b.lost <= t1, b.lost, NO_DAY))
        early = b.event_day <= t1
        for name in ("event_customer", "event_code", "event_day"):
            assert np.array_equal(getattr(a, name), getattr(b, name)[early]), name
        # later events come after each customer's earlier ones (their numbers go on)
        assert (b.invoice_date[~old] > t1).all()


def test_customers_after_the_nth_arrive_after_the_range_in_id_order_at_its_rate():
    cfg = _model().cfg
    draws = Draws(cfg.seed)
    ids = np.arange(1, 3001)
    days = created_day(cfg, ids, draws)
    assert np.array_equal(days[:800], created_day(cfg, ids[:800], draws))  # the same, asked either way
    assert (np.diff(days) >= 0).all()
    assert days[799] <= day_number(cfg.date_till) < days[800]
    a_year = customers_by(cfg, day_number(dt.date(2021, 6, 30)), draws) - 800
    # 800 customers over 2.5 years with yearly growth: a year after the range brings about 320 to 450
    assert 300 < a_year < 500
    assert customers_by(cfg, day_number(cfg.date_till), draws) == 800
    later = build_customers(cfg, np.arange(801, 811), draws)
    assert list(later["created_at"]) == list(days[800:810])


def test_lines_from_a_day_are_the_lines_of_the_whole_simulation_whose_sale_is_dated_from_it():
    """simulate_block(lines_from=D), what an extension from the story asks: the sale lines of the invoices
    dated D and later, and their credit notes, exactly as the whole simulation makes them; the history, the
    invoice numbers and the pending invoices as they are."""
    model = _model(horizon=dt.date(2021, 3, 31))
    ids = np.arange(1, 801)
    whole = simulate_block(model, ids, Draws(5))
    for since in (dt.date(2019, 2, 1), dt.date(2020, 6, 30), dt.date(2021, 3, 31)):
        d = day_number(since)
        part = simulate_block(model, ids, Draws(5), lines_from=d)
        sale_day = np.where(whole.returned >= 0, whole.invoice_date[np.maximum(whole.returned, 0)], 0)
        kept = np.where(whole.returned >= 0, sale_day, whole.invoice_date) >= d
        assert 0 < kept.sum() < len(whole), since
        for name in (*LINE_FIELDS, "invoice_second", "return_reason"):
            assert np.array_equal(getattr(part, name), getattr(whole, name)[kept]), (since, name)
        where = np.cumsum(kept) - 1
        assert np.array_equal(
            part.returned, np.where(whole.returned[kept] >= 0, where[whole.returned[kept]], -1)
        )
        for name in ("segment", "created", "first_purchase", "lost", "event_customer", "event_code",
                     "event_day", "pending_customer", "pending_seq", "pending_day", "pending_second"):  # fmt: skip
            assert np.array_equal(getattr(part, name), getattr(whole, name)), (since, name)
