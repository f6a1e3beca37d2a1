"""Proof on real data no one here wrote: CDNOW's purchase history (23,570 customers who first bought in
early 1997, every purchase to mid-1998), as the `lifetimes` package ships it. Fit it, generate its twin at
the same size and horizon, and hold the twin's figures to the real ones.

The file is read from the installed package (it is not committed here); the fixtures are built once.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest

import erpgen
from erpgen.fit import fit
from erpgen.fit.measures import measure
from erpgen.fit.source import SourceSpec, erpgen_dataset_spec, read

from .helpers import assert_only_aggregates

lifetimes = pytest.importorskip("lifetimes")

CAL_END, END = 273, 546  # days from 1997-01-01: 39 weeks of calibration, then 39 weeks of holdout


def _cdnow_rows() -> list[tuple[str, str, int, float]]:
    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
    rows = []
    with path.open() as f:
        next(f)  # its header line
        for line in f:
            customer, day, cds, dollars = line.split()
            rows.append((customer, f"{day[:4]}-{day[4:6]}-{day[6:]}", int(cds), float(dollars)))
    return rows


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    """CDNOW in SQLite, its fitted twin, and the twin generated at the same size and horizon."""
    folder = tmp_path_factory.mktemp("cdnow")
    real = folder / "cdnow.db"
    with sqlite3.connect(real) as con:
        con.execute(
            "CREATE TABLE purchases (customer_id TEXT, date DATE, number_of_cds INT, dollar_value REAL)"
        )
        con.executemany("INSERT INTO purchases VALUES (?, ?, ?, ?)", _cdnow_rows())
    real_url, twin_url = f"sqlite:///{real}", f"sqlite:///{folder / 'twin.db'}"
    result = fit(database_url=real_url, table="purchases", output=str(folder / "cdnow.toml"))
    erpgen.generate(database_url=twin_url, scenario=result.output)
    real_history = read(SourceSpec(database_url=real_url, table="purchases"))
    twin_spec = erpgen_dataset_spec(twin_url, None)
    assert twin_spec is not None
    twin_history = read(twin_spec)
    return {"fit": result, "real": real_history, "twin": twin_history}


FIGURES = {
    "one-time buyers": lambda m: m.one_time_share,
    "median days between purchases": lambda m: m.gap_median,
    "revenue share of the top 20 %": lambda m: m.top20_share,
    "orders per buyer, mean": lambda m: m.orders_per_buyer_mean,
    "orders per buyer, 90th percentile": lambda m: m.orders_per_buyer_p90,
    "repeat buyers with a gap over 180 days": lambda m: m.long_gap_share,
}


@pytest.mark.parametrize("figure", FIGURES)
def test_the_twin_meets_cdnow_within_ten_percent(cdnow, figure):
    real, twin = (FIGURES[figure](measure(cdnow[side])) for side in ("real", "twin"))
    assert abs(twin / real - 1) <= 0.10, f"{figure}: real {real:.4g}, twin {twin:.4g}"


def test_cdnow_is_the_published_data_set(cdnow):
    m = measure(cdnow["real"])
    assert m.customers == 23_570
    assert 0.45 <= m.one_time_share <= 0.55  # "about 50 %"
    assert m.gap_median == 34


def _bgnbd(history, month: int = 0) -> tuple[float, float, float]:
    """BG/NBD fitted on the first 39 weeks, predicting each customer's purchase days in the last 39:
    (predicted / actual, correlation of predicted and actual per customer, customers). With `month`,
    the customers who first bought in that month of 1997 only (a monthly cohort)."""
    from lifetimes import BetaGeoFitter

    day = history.day - int(np.datetime64("1997-01-01", "D").astype(np.int64))
    key = np.unique(history.customer[~history.is_return] * 10_000 + day[~history.is_return])
    customer, day = key // 10_000, key % 10_000
    ids, first_at = np.unique(customer, return_index=True)
    row, first = np.searchsorted(ids, customer), day[first_at]
    cal = day < CAL_END
    frequency = np.bincount(row[cal], minlength=len(ids)) - 1
    last = np.zeros(len(ids))
    np.maximum.at(last, row[cal], day[cal])
    holdout = np.bincount(row[~cal], minlength=len(ids))
    keep = first < CAL_END
    if month:
        cohort = (np.datetime64("1997-01-01", "D") + first.astype("timedelta64[D]")).astype("datetime64[M]")
        keep &= cohort == np.datetime64(f"1997-{month:02d}", "M")
    f, r, t, h = frequency[keep], (last - first)[keep] / 7, (CAL_END - first[keep]) / 7, holdout[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BetaGeoFitter().fit(f, r, t)
        predicted = np.asarray(
            model.conditional_expected_number_of_purchases_up_to_time((END - CAL_END) / 7, f, r, t)
        )
    return float(predicted.sum() / h.sum()), float(np.corrcoef(predicted, h)[0, 1]), int(keep.sum())


def test_bgnbd_predicts_the_twin_as_it_predicts_cdnow(cdnow):
    real_ratio, _, _ = _bgnbd(cdnow["real"])
    twin_ratio, _, _ = _bgnbd(cdnow["twin"])
    assert abs(twin_ratio / real_ratio - 1) <= 0.10, (real_ratio, twin_ratio)


def test_bgnbd_correlation_of_the_twin_within_cdnow_range(cdnow):
    """The per-customer correlation falls inside the range CDNOW's own monthly cohorts show."""
    cohorts = [_bgnbd(cdnow["real"], month)[1] for month in (1, 2, 3)]
    _, twin_corr, _ = _bgnbd(cdnow["twin"])
    assert min(cohorts) <= twin_corr <= max(cohorts), (cohorts, twin_corr)


def test_no_customer_id_or_amount_of_cdnow_in_the_twin_scenario(cdnow):
    text = Path(cdnow["fit"].output).read_text()
    assert_only_aggregates(text, [c for c, *_ in _cdnow_rows()], [a for *_, a in _cdnow_rows()])
