"""The lifecycle model: each mechanism is real, tunable, and a customer's data never depends on its block."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from erpgen.calibrate import measure
from erpgen.config import make_config
from erpgen.customers import build_customers, identity_pools, locale_of
from erpgen.dates import EPOCH
from erpgen.masters import catalog_for
from erpgen.rng import Draws
from erpgen.scenario import Scenario
from erpgen.simulation import B2B, DORMANT, LOST, LOYAL, ONE_TIME, REACTIVATED, Model, Rates, simulate_block
from erpgen.simulation.returns import RETURN_WINDOW

N = 3000


DEFAULT_RATES = Rates(p_one_time=0.3)


def sim(n=N, block=None, rates=DEFAULT_RATES, scenario="air-freshener", **changes):
    """Simulate n customers; `changes` replace scenario sections, e.g. lifecycle={"p_dormant": 0}."""
    cfg = make_config(scenario=scenario, n_customers=n)
    sc = cfg.scenario
    for section, values in changes.items():
        sc = dataclasses.replace(sc, **{section: dataclasses.replace(getattr(sc, section), **values)})
    cfg = dataclasses.replace(cfg, scenario=sc)
    model = Model(cfg, catalog_for(cfg), rates)
    ids = np.arange(1, n + 1)
    block = block or n
    parts = [simulate_block(model, ids[i : i + block], Draws(cfg.seed)) for i in range(0, n, block)]
    return cfg, model, parts


def one(**kw):
    cfg, model, parts = sim(**kw)
    assert len(parts) == 1
    return cfg, model, parts[0]


def sales_invoices(f):
    sale = ~f.is_credit
    keys, first = np.unique(f.customer_id[sale] * 10**7 + f.invoice_seq[sale], return_index=True)
    return keys // 10**7, f.invoice_date[sale][first]


def test_blocks_do_not_change_the_data():
    _, _, [whole] = sim(n=600)
    _, _, pieces = sim(n=600, block=37)
    for field in (
        "customer_id",
        "invoice_seq",
        "invoice_date",
        "product_id",
        "quantity",
        "revenue_cents",
        "store_id",
    ):
        assert np.array_equal(getattr(whole, field)[~whole.is_credit],
                              np.concatenate([getattr(p, field)[~p.is_credit] for p in pieces])), field  # fmt: skip
    assert np.array_equal(whole.segment, np.concatenate([p.segment for p in pieces]))
    assert np.array_equal(whole.lost, np.concatenate([p.lost for p in pieces]))


def test_one_time_buyers_buy_once_and_their_share_is_tunable():
    _, _, f = one(rates=Rates(p_one_time=0.5))
    cust, _ = sales_invoices(f)
    counts = np.bincount(cust - 1, minlength=N)
    one_time = f.segment == ONE_TIME
    assert (counts[one_time] <= 1).all()
    decided = one_time & (counts == 1) & (f.lost >= 0)  # (a purchase on the last day decides after the range)
    assert decided.sum() > 0.95 * (one_time & (counts == 1)).sum()
    assert (f.lost[decided] == f.first_purchase[decided] + 1).all()
    share_hi = one_time.mean()
    _, _, f2 = one(rates=Rates(p_one_time=0.1))
    assert share_hi > 0.4 > 0.2 > (f2.segment == ONE_TIME).mean()


def test_loyal_refills_follow_consumption():
    cfg, model, f = one(lifecycle={"loyal_share": 1.0}, rates=Rates(p_one_time=0.0))
    loyal = set((np.flatnonzero(f.segment == LOYAL) + 1).tolist())
    sale = ~f.is_credit
    grams = np.zeros(len(f.customer_id))
    grams[sale] = model.gramm[f.product_id[sale]] * f.quantity[sale]
    key = f.customer_id * 10**7 + f.invoice_seq
    inv, idx = np.unique(key[sale], return_inverse=True)
    inv_grams = np.bincount(idx, weights=grams[sale])
    inv_day = np.zeros(len(inv), dtype=np.int64)
    inv_day[idx] = f.invoice_date[sale]
    cust = inv // 10**7
    nxt = np.r_[cust[1:] == cust[:-1], False]
    is_loyal = np.isin(cust, list(loyal))
    gaps = np.r_[inv_day[1:] - inv_day[:-1], 0]
    small = nxt & is_loyal & (inv_grams > 0) & (inv_grams <= 40)
    large = nxt & is_loyal & (inv_grams >= 150)
    # bigger refills last longer: the gap grows with the grams bought
    assert np.median(gaps[large]) > 2.5 * np.median(gaps[small])
    # and faster consumers come back sooner
    _, _, fast = one(
        lifecycle={"loyal_share": 1.0, "consumption_g_per_day": 6.0}, rates=Rates(p_one_time=0.0)
    )
    assert measure(fast).orders_per_active_year > 1.5 * measure(f).orders_per_active_year


def test_purchase_frequency_drifts_over_the_years():
    def spread(trend: float) -> float:
        cfg, _, f = one(lifecycle={"trend_sigma": trend, "yearly_loss": 0.0, "p_dormant": 0.0},
                        rates=Rates(p_one_time=0.0))  # fmt: skip
        cust, day = sales_invoices(f)
        start = np.datetime64("2016-01-01") - EPOCH
        early = np.bincount(
            cust[(day >= start.astype(int)) & (day < start.astype(int) + 730)], minlength=N + 1
        )
        late = np.bincount(cust[day >= (np.datetime64("2022-01-01") - EPOCH).astype(int)], minlength=N + 1)
        both = (early > 4) & (late > 4)
        return float(np.std(np.log(late[both] / early[both])))

    assert spread(0.5) > 1.5 * spread(0.0)


def test_dormant_spells_then_reactivation_or_loss():
    _, _, f = one(lifecycle={"p_dormant": 0.2})
    cust, day = sales_invoices(f)
    dormant = f.event_code == DORMANT
    assert dormant.sum() > 100
    react = f.event_code == REACTIVATED
    assert react.sum() > 50
    for c, d_day in list(zip(f.event_customer[dormant], f.event_day[dormant]))[:300]:
        after = f.event_day[(f.event_customer == c) & (f.event_day > d_day) & (f.event_code == REACTIVATED)]
        end = after.min() if len(after) else 10**9
        # no purchase inside a dormant spell
        assert not ((cust == c) & (day >= d_day) & (day < end)).any()
    _, _, none = one(lifecycle={"p_dormant": 0.0})
    assert not (none.event_code == DORMANT).any()


def test_lost_customers_never_buy_again_and_loss_is_tunable():
    _, _, f = one()
    cust, day = sales_invoices(f)
    lost = f.lost[cust - 1]
    assert not ((lost >= 0) & (day >= lost)).any()
    assert ((f.event_code == LOST).sum()) == (f.lost >= 0).sum()
    _, _, more = one(rates=Rates(p_one_time=0.3, loss_scale=4.0))
    assert (more.lost >= 0).mean() > (f.lost >= 0).mean() + 0.1


def test_several_invoices_on_one_day():
    _, _, f = one(basket={"p_invoice_by_nth": ((1.0, 1.0, 0.0),)}, rates=Rates(p_one_time=0.0))
    cust, day = sales_invoices(f)
    per_day = np.unique(cust * 100_000 + day, return_counts=True)[1]
    assert set(per_day.tolist()) == {2}


def test_returns_reference_their_sale_and_never_exceed_it():
    _, _, f = one()
    credit = np.flatnonzero(f.is_credit)
    assert len(credit) > 100
    sold = f.returned[credit]
    assert (f.quantity[credit] < 0).all() and (-f.quantity[credit] <= f.quantity[sold]).all()
    assert (f.invoice_date[credit] > f.invoice_date[sold]).all()
    assert (f.product_id[credit] == f.product_id[sold]).all() and (
        f.customer_id[credit] == f.customer_id[sold]
    ).all()
    assert (f.revenue_cents[credit] == f.quantity[credit] * f.unit_price_cents[credit]).all()


def test_no_sale_comes_back_after_the_return_window():
    """Even where the mean lag is the window itself, the lags are cut at RETURN_WINDOW days (the bound
    `erpgen extend` relies on), and below it they keep the law's decreasing shape."""
    cfg = make_config(n_customers=10)
    channels = {
        k: dataclasses.replace(v, return_rate=0.3, return_lag_days=float(RETURN_WINDOW))
        for k, v in cfg.scenario.channels.items()
    }
    [f] = sim(n=1000, scenario=dataclasses.replace(cfg.scenario, channels=channels, name="x"))[2]
    credit = np.flatnonzero(f.is_credit)
    lag = f.invoice_date[credit] - f.invoice_date[f.returned[credit]]
    assert len(lag) > 1000 and lag.min() >= 1 and lag.max() <= RETURN_WINDOW
    halves = np.bincount(lag * 2 // (RETURN_WINDOW + 1), minlength=2)
    assert halves[0] > 1.2 * halves[1] > 0, halves  # a geometric law's first half weighs more


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_return_rate_is_tunable(rate):
    cfg = make_config(n_customers=10)
    channels = {k: dataclasses.replace(v, return_rate=rate) for k, v in cfg.scenario.channels.items()}
    _, _, f = sim(scenario=dataclasses.replace(cfg.scenario, channels=channels, name="x"))
    [f] = f
    consumer = f.segment[f.customer_id - 1] != B2B  # businesses return part of a bulk line
    back = -f.revenue_cents[f.is_credit & consumer].sum() / f.revenue_cents[~f.is_credit & consumer].sum()
    assert abs(back - rate) < 0.02


def test_months_shape_the_sales():
    flat = (1.0,) * 12
    summer = (0.3,) * 5 + (3.0, 3.0, 3.0) + (0.3,) * 4
    _, _, f = one(seasonality={"month_weights": summer, "acquisition_growth_per_year": 0.0})
    _, _, g = one(seasonality={"month_weights": flat, "acquisition_growth_per_year": 0.0})

    def june_to_august(x):
        months = (EPOCH + x.invoice_date.astype("timedelta64[D]")).astype("datetime64[M]").astype(int) % 12
        return np.isin(months, [5, 6, 7]).mean()

    assert june_to_august(f) > june_to_august(g) + 0.1


def test_b2b_customers_are_companies_with_bigger_discounted_baskets():
    cfg, model, f = one()
    b2b = f.segment == B2B
    assert 0.04 < b2b.mean() < 0.12
    customers = build_customers(cfg, np.arange(1, N + 1), Draws(cfg.seed))
    company = np.array([c is not None for c in customers["company_name"]])
    assert np.array_equal(company, b2b)
    is_b2b_line = b2b[f.customer_id - 1] & ~f.is_credit
    consumer_line = ~b2b[f.customer_id - 1] & ~f.is_credit
    assert f.quantity[is_b2b_line].mean() > 3 * f.quantity[consumer_line].mean()
    list_price = model.prices[f.product_id]
    year = (EPOCH + f.invoice_date.astype("timedelta64[D]")).astype("datetime64[Y]").astype(int) + 1970
    indexed = list_price * 1.03 ** (year - 2015)
    assert (f.unit_price_cents[is_b2b_line] < indexed[is_b2b_line] * 0.91).all()


def test_countries_follow_the_mix_and_names_fit_the_country():
    cfg = make_config(scenario="gym-coffee", n_customers=4000)
    customers = build_customers(cfg, np.arange(1, 4001), Draws(cfg.seed))
    shares = {c: customers["country"].count(c) / 4000 for c in cfg.scenario.countries}
    for code, country in cfg.scenario.countries.items():
        assert abs(shares[code] - country.share) < 0.03
    for k in range(0, 4000, 7):
        country = cfg.scenario.countries[customers["country"][k]]
        pools = identity_pools(locale_of(cfg, country), cfg.seed)
        if customers["last_name"][k] is not None:
            assert customers["last_name"][k] in pools.last_names
    # --faker-locale overrides every country's locale
    forced = make_config(scenario="gym-coffee", n_customers=4000, faker_locale="de_DE")
    assert locale_of(forced, forced.scenario.countries["AU"]) == "de_DE"


def test_calibration_meets_the_business_targets():
    from erpgen.calibrate import calibrate

    cfg = make_config(n_customers=N)
    catalog = catalog_for(cfg)
    rates = calibrate(cfg, catalog)
    f = simulate_block(Model(cfg, catalog, rates), np.arange(1, N + 1), Draws(cfg.seed))
    m, t = measure(f), cfg.scenario.targets
    assert abs(m.one_time_share - t.one_time_share) <= t.one_time_tolerance
    assert abs(m.yearly_retention - t.yearly_retention) <= t.retention_tolerance
    assert abs(m.orders_per_active_year / t.orders_per_active_customer_per_year - 1) <= t.orders_tolerance


def test_air_freshener_file_lists_every_knob():
    from erpgen.scenario import builtin_text, load

    # the file names the company's currency that an omitted `currency` resolves to (its first country's)
    default = dataclasses.replace(Scenario(), currency=Scenario().company_currency)
    assert load("air-freshener")[0] == default
    text = builtin_text("air-freshener")
    for f in dataclasses.fields(Scenario):
        value = getattr(Scenario(), f.name)
        names = [x.name for x in dataclasses.fields(value)] if dataclasses.is_dataclass(value) else [f.name]
        for name in names:
            assert f"{name} =" in text or f"[{f.name}." in text, name


def test_batched_draws_are_the_single_draws():
    """The event loop takes several draws per call (Draws.uniforms); each column must be the number a
    call of its own gives, or batching would change the data."""
    from erpgen.rng import Stream, geometric_of, normal_of

    d = Draws(11)
    cust, a, b = np.arange(1, 500), np.arange(499) * 3, np.arange(499) % 60
    for a_, b_ in ((7, 0), (a, 0), (7, b), (a, b)):
        u = d.uniforms(Stream.QUANTITY, cust, a_, b_, (0, 64, 192))
        for j, off in enumerate((0, 64, 192)):
            assert np.array_equal(u[:, j], d.uniform(Stream.QUANTITY, cust, a_, np.asarray(b_) + off))
        assert np.array_equal(
            normal_of(u[:, 1], u[:, 2]), d.normal(Stream.QUANTITY, cust, a_, np.asarray(b_) + 64)
        )
    p = np.linspace(0, 1, 499)
    u = d.uniform(Stream.BUY_GAP, cust, 5)
    assert np.array_equal(geometric_of(u, p), d.geometric_failures(p, Stream.BUY_GAP, cust, 5))


def test_compact_blocks_keep_their_values_and_line_ids_past_32_bits():
    from erpgen.simulation import compact
    from erpgen.tables import fact_batch

    _, _, (f,) = sim(n=400)
    wide = {name: getattr(f, name).copy() for name in ("customer_id", "invoice_date", "returned", "quantity")}
    before = fact_batch(f, 1)
    first = 3 * 2**31  # line ids beyond 32 bits: a return's line id must not wrap around
    big = fact_batch(f, first)
    c = compact(f)
    assert c.customer_id.dtype == np.int32 and c.returned.dtype == np.int32
    assert c.quantity.dtype == np.int64 and c.revenue_cents.dtype == np.int64  # the sinks compute with them
    for name, values in wide.items():
        assert np.array_equal(getattr(c, name), values)
    assert (wide["returned"] >= 0).any()
    for start, expected in ((1, before), (first, big)):
        got = fact_batch(c, start)
        assert got.keys() == expected.keys()
        for name in got:
            assert np.array_equal(got[name], expected[name]), name
