"""The order-to-cash chain (sales_orders, deliveries, payments, the lines' order_id and return_reason) on
real databases: one B2B customer walked from its order to its payment, every status at the end of the
data, the same chain whatever the target and however an extension got there, and the days after the end
that the simulation looks ahead to changing nothing before it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from erpgen.config import make_config
from erpgen.masters import catalog_for
from erpgen.rng import Draws
from erpgen.schema import ORDER_STATUSES, RETURN_REASONS
from erpgen.simulation import Model, Rates, simulate_block

from .helpers import digests, rows

GYM = ["--scenario", "gym-coffee", "--n-customers", "2000", "--date-from", "2021-01-01",
       "--date-till", "2023-06-30", "--seed", "5", "-q"]  # fmt: skip
DOCUMENTS = ("sales_orders", "sales_transactions", "invoices", "deliveries", "payments")


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


@pytest.mark.parametrize("db", ["sqlite_url", "pg_url", "mysql_url"])
def test_one_b2b_customers_order_walked_to_its_payment(db, request, erpgen):
    """A B2B customer abroad: an order after its first day (a first order is placed no earlier than the
    customer was created), placed ahead, shipped, delivered (the invoice's day: gym-coffee
    invoices businesses on delivery), invoiced in its currency, paid by transfer around net 60."""
    url = request.getfixturevalue(db)
    assert erpgen("generate", "--database-url", url, *GYM).code == 0
    ((customer, order),) = rows(
        url,
        "SELECT c.customer_id, min(o.order_id) FROM customers c JOIN sales_orders o ON o.customer_id = c.customer_id "
        "WHERE c.channel = 'B2B' AND c.country <> 'UK' AND o.status = 'PAID' AND o.order_date > c.created_at "
        "GROUP BY c.customer_id ORDER BY c.customer_id LIMIT 1",
    )
    ((who, ordered_on, ordered_at, status, cancelled_on, currency),) = rows(
        url, "SELECT customer_id, order_date, ordered_at, status, cancelled_on, currency_code FROM sales_orders "
             "WHERE order_id = :o", o=order)  # fmt: skip
    assert who == customer and status == "PAID" and cancelled_on is None and currency != "GBP"
    ((invoice, invoice_date, due_on, total, is_credit),) = rows(
        url, "SELECT invoice_id, invoice_date, due_on, total, is_credit FROM invoices WHERE order_id = :o "
             "AND is_credit = 0", o=order)  # fmt: skip
    # the invoice and its order share the customer's numbers: invoice s, order 2s
    assert order == f"SO-{customer:08d}-{2 * int(invoice[-6:]):07d}" and is_credit == 0
    lines = rows(url, "SELECT order_id, invoice_id, return_reason FROM sales_transactions "
                      "WHERE order_id = :o AND quantity > 0", o=order)  # fmt: skip
    assert lines and {(o, i, r) for o, i, r in lines} == {(order, invoice, None)}
    ((shipped, promised, delivered),) = rows(
        url, "SELECT shipped_on, promised_on, delivered_on FROM deliveries WHERE order_id = :o", o=order
    )
    shipped, promised, delivered = map(_day, (shipped, promised, delivered))
    assert _day(ordered_on) <= shipped < delivered == _day(invoice_date)
    assert 1 <= (delivered - shipped).days <= 3 + 5 + 5  # transit, abroad, late
    assert 3 <= (shipped - _day(ordered_on)).days <= 22  # ordered ahead for a scheduled delivery
    assert _day(due_on) == _day(invoice_date) + dt.timedelta(days=60)
    ((paid_on, method, amount, paid_currency),) = rows(
        url, "SELECT paid_on, method, amount, currency_code FROM payments WHERE invoice_id = :i", i=invoice
    )
    assert method == "TRANSFER" and paid_currency == currency and float(amount) == float(total)
    assert _day(invoice_date) <= _day(paid_on) <= _day(due_on) + dt.timedelta(days=24 + 60)


def test_every_status_and_reason_at_the_end_and_the_chain_in_order(erpgen, sqlite_url):
    assert erpgen("generate", "--database-url", sqlite_url, *GYM).code == 0
    statuses = dict(rows(sqlite_url, "SELECT status, count(*) FROM sales_orders GROUP BY status"))
    assert set(statuses) == set(ORDER_STATUSES), statuses
    reasons = {r for (r,) in rows(sqlite_url, "SELECT DISTINCT return_reason FROM sales_transactions "
                                              "WHERE quantity < 0")}  # fmt: skip
    assert reasons == set(RETURN_REASONS)
    ((end,),) = rows(sqlite_url, "SELECT max(rate_date) FROM exchange_rates")
    # what stands open at the end is what the dates say: nothing dated after the end
    chains = rows(
        sqlite_url,
        "SELECT o.status, o.order_date, d.shipped_on, d.delivered_on, i.invoice_date, p.paid_on "
        "FROM sales_orders o LEFT JOIN deliveries d ON d.order_id = o.order_id "
        "LEFT JOIN invoices i ON i.order_id = o.order_id AND i.is_credit = 0 "
        "LEFT JOIN payments p ON p.invoice_id = i.invoice_id",
    )
    for status, ordered, shipped, delivered, invoiced, paid in chains:
        present = (shipped is not None, invoiced is not None, paid is not None)
        assert present == {
            "OPEN": (False, False, False), "CANCELLED": (False, False, False), "SHIPPED": (True, False, False),
            "INVOICED": (True, True, False), "PAID": (True, True, True),
        }[status], (status, present)  # fmt: skip
        dates = [d for d in (ordered, shipped, delivered) if d is not None]
        assert dates == sorted(dates) and max([*dates, paid or ordered]) <= end
        if invoiced is not None:
            assert shipped <= invoiced <= (paid or invoiced)
    online = rows(sqlite_url, "SELECT avg(o.status = 'CANCELLED') FROM sales_orders o "
                              "JOIN stores s ON s.store_id = o.store_id GROUP BY s.channel ORDER BY s.channel")  # fmt: skip
    b2b, on_line, retail = (share for (share,) in online)
    assert retail < b2b < on_line  # more cancelled online than in store


def test_extend_in_steps_carries_the_chain_on(erpgen, tmp_path):
    """One step, or steps of a month, a day and the rest across a year end: the same documents, with the
    orders open at each step's end moved on (status updated) and the deliveries under way arriving."""
    one, steps = (f"sqlite:///{tmp_path / name}" for name in ("one.db", "steps.db"))
    for url in (one, steps):
        assert erpgen("generate", "--database-url", url, *GYM).code == 0
    extended = erpgen("extend", "--database-url", one, "--till", "2024-02-29")
    assert extended.code == 0 and "updated" in extended.out, extended
    for till in ("2023-07-31", "2023-08-01", "2024-02-29"):
        assert erpgen("extend", "--database-url", steps, "--till", till, "-q").code == 0
    for url in (one, steps):
        assert erpgen("verify", "--database-url", url).code == 0
        validated = erpgen("validate", "--database-url", url)
        assert "orphans" in validated.out and not any(
            "FAIL" in ln and "orphan" in ln for ln in validated.out.splitlines()
        ), validated.out
    a, b = digests(one), digests(steps)
    assert {t: a[t] for t in DOCUMENTS} == {t: b[t] for t in DOCUMENTS}
    # what stood open at the first end moved on: no order is OPEN with a delivery, none SHIPPED with an invoice
    stale = rows(one, "SELECT count(*) FROM sales_orders o JOIN invoices i ON i.order_id = o.order_id "
                      "WHERE o.status IN ('OPEN', 'SHIPPED')")  # fmt: skip
    assert stale == [(0,)]


def test_looking_ahead_past_the_end_changes_nothing_before_it():
    """The purchase days run past the end for the orders placed by then: the lines and the lifecycle up to
    the end are those of a run that stops there (as an extension's later horizon only carries them on)."""
    cfg = make_config(scenario="gym-coffee", n_customers=1500, date_till=dt.date(2022, 6, 30))
    model = Model(cfg, catalog_for(cfg), Rates(p_one_time=0.5))
    assert model.lookahead > 20
    ids = np.arange(1, 1501, dtype=np.int64)
    ahead = simulate_block(model, ids, Draws(cfg.seed))
    later = simulate_block(
        Model(
            cfg,
            catalog_for(cfg),
            Rates(p_one_time=0.5),
            horizon=dt.date(2022, 6, 30) + dt.timedelta(days=400),
        ),
        ids,
        Draws(cfg.seed),
    )
    keep = later.invoice_date <= model.till
    assert len(ahead.pending_customer) > 0 and (ahead.pending_day > model.till).all()
    for name in ("customer_id", "invoice_seq", "invoice_date", "product_id", "quantity", "revenue_cents"):
        assert np.array_equal(getattr(ahead, name), getattr(later, name)[keep]), name
    # the pending invoices are the later run's first invoices after the end
    after = ~keep & (later.is_credit == 0) & (later.invoice_date <= model.till + model.lookahead)
    pending = set(zip(ahead.pending_customer.tolist(), ahead.pending_seq.tolist()))
    assert pending == set(zip(later.customer_id[after].tolist(), later.invoice_seq[after].tolist()))
