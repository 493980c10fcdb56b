"""The order-side files: orders, payments, inventory allocations, service tickets, approvals,
notifications, returns."""

from __future__ import annotations

import numpy as np
import polars as pl

from orderscope.generator import records as R
from orderscope.generator import world as W
from orderscope.generator.output.formats import Output, chunks, ids, lookup, order_id, ts


def write_orders(o: Output) -> None:
    sim = o.sim
    frame = pl.DataFrame(
        {
            "oi": np.arange(sim.n, dtype=R.I64),
            "cust": sim.cust,
            "channel": sim.channel,
            "region": sim.region,
            "wh": sim.wh,
            "sku": sim.sku,
            "cat": sim.cat,
            "quantity": sim.qty,
            "amount": sim.amount,
            "country": sim.country,
            "cross_border": sim.cross,
            "created": sim.created,
            "promised": sim.promised,
        }
    )
    currency = (
        pl.when(pl.col("cross_border"))
        .then(lookup("country", W.CURRENCIES))
        .otherwise(pl.lit(W.HOME_CURRENCY))
    )
    customer = pl.concat_str([pl.lit("C"), (pl.col("cust") + 1).cast(pl.String).str.zfill(o.customer_width)])
    o.writer.write(
        "orders",
        frame.select(
            order_id().alias("order_id"),
            customer.alias("customer_id"),
            lookup("channel", W.CHANNELS).alias("channel"),
            lookup("region", W.REGIONS).alias("region"),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            lookup("sku", W.SKUS).alias("sku"),
            lookup("cat", W.CATEGORIES).alias("sku_category"),
            pl.col("quantity").cast(pl.Int64),
            pl.col("amount").round(2),
            currency.alias("currency"),
            pl.when(pl.col("cross_border"))
            .then(lookup("country", W.COUNTRIES))
            .otherwise(pl.lit(W.HOME_COUNTRY))
            .alias("destination_country"),
            pl.col("cross_border"),
            ts("created", "orders").alias("created_at"),
            ts("promised", "orders").alias("promised_at"),
        ),
    )


def write_payments(o: Output) -> None:
    """One payment per order (rid = order index): authorized, captured, refunded or failed."""
    sim, end = o.sim, o.end
    oi = np.arange(sim.n, dtype=R.I64)
    frame = pl.DataFrame(
        {
            "rid": oi,
            "oi": oi,
            "t": sim.pay_attempt,
            "paid": sim.paid_t,
            "refund": sim.refund_t,
            "method": sim.pay_method,
            "amount": sim.amount,
            "cross": sim.cross,
            "country": sim.country,
        }
    )
    p = o.ranked("payments", frame)
    status = (
        pl.when((pl.col("refund") >= 0) & (pl.col("refund") < end))
        .then(pl.lit("refunded"))
        .when((pl.col("paid") >= 0) & (pl.col("paid") < end))
        .then(pl.lit("captured"))
        .when(pl.col("paid") < 0)
        .then(pl.lit("failed"))
        .otherwise(pl.lit("authorized"))
    )
    o.writer.write(
        "payments",
        p.select(
            ids("payments", pl.col("rank")).alias("payment_id"),
            order_id(),
            lookup("method", ("card", "wallet", "bank_transfer", "cash_on_delivery")).alias("method"),
            pl.col("amount").round(2),
            pl.when(pl.col("cross"))
            .then(lookup("country", W.CURRENCIES))
            .otherwise(pl.lit(W.HOME_CURRENCY))
            .alias("currency"),
            status.alias("status"),
            ts("t", "payments").alias("authorized_at"),
            ts("paid", "payments", end).alias("captured_at"),
        ),
    )


def write_allocations(o: Output) -> None:
    sim = o.sim
    a = o.ranked("inventory_allocations")
    a = a.with_columns(
        pl.Series("sku", sim.sku[a["oi"].to_numpy()]),
        pl.Series("wh", sim.wh[a["oi"].to_numpy()]),
        pl.Series("qty", sim.qty[a["oi"].to_numpy()]),
    )
    o.writer.write(
        "inventory_allocations",
        a.select(
            ids("inventory_allocations", pl.col("rank")).alias("allocation_id"),
            order_id(),
            lookup("sku", W.SKUS).alias("sku"),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            pl.when(pl.col("status") == 0).then(pl.col("qty")).otherwise(0).cast(pl.Int64).alias("quantity"),
            lookup("status", R.ALLOC_STATUS).alias("status"),
            ts("t", "inventory_allocations").alias("allocated_at"),
        ),
    )


def write_tickets(o: Output) -> None:
    end = o.end
    tk = o.ranked("service_tickets")
    status = (
        pl.when(pl.col("resolved") < end)
        .then(pl.lit("resolved"))
        .when(pl.col("first") < end)
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("open"))
    )
    o.writer.write(
        "service_tickets",
        tk.select(
            ids("service_tickets", pl.col("rank")).alias("ticket_id"),
            order_id(),
            lookup("channel", ("chat", "phone", "email")).alias("channel"),
            lookup("topic", R.TOPICS).alias("topic"),
            o.actor("agent").alias("agent_id"),
            status.alias("status"),
            ts("t", "service_tickets").alias("opened_at"),
            ts("first", "service_tickets", end).alias("first_response_at"),
            ts("resolved", "service_tickets", end).alias("resolved_at"),
        ),
    )


def write_approvals(o: Output) -> None:
    end = o.end
    ap = o.ranked("approvals")
    decided = pl.col("decided") < end
    comment = (
        pl.when(pl.col("type") == 0)
        .then(pl.lit("manual fraud review"))
        .when(pl.col("type") == 1)
        .then(pl.lit("stock found on re-count; reinstate order"))
        .otherwise(pl.lit("return inspected; refund in full"))
    )
    o.writer.write(
        "approvals",
        ap.select(
            ids("approvals", pl.col("rank")).alias("approval_id"),
            order_id(),
            lookup("type", R.APPROVAL_TYPES).alias("approval_type"),
            o.actor("approver").alias("approver_id"),
            pl.when(~decided)
            .then(pl.lit("pending"))
            .when(pl.col("decision") == 1)
            .then(pl.lit("rejected"))
            .otherwise(pl.lit("approved"))
            .alias("decision"),
            ts("t", "approvals").alias("requested_at"),
            ts("decided", "approvals", end).alias("decided_at"),
            pl.when(decided).then(comment).alias("comment"),
        ),
    )


def write_notifications(o: Output) -> None:
    nt = o.ranked("notifications")
    nt = nt.with_columns(pl.Series("nch", o.sim.notif_channel[nt["oi"].to_numpy()]))
    proactive = dict(enumerate(R.PROACTIVE.tolist()))
    columns = (
        ids("notifications", pl.col("rank")).alias("notification_id"),
        order_id(),
        lookup("nch", ("push", "sms", "email")).alias("channel"),
        lookup("template", R.TEMPLATES).alias("template"),
        pl.col("template").replace_strict(proactive, return_dtype=pl.Boolean).alias("proactive"),
        ts("t", "notifications").alias("sent_at"),
    )
    o.writer.write("notifications", frames=chunks(nt, *columns))


def write_returns(o: Output) -> None:
    end = o.end
    rt = o.ranked("returns")
    rt = rt.with_columns(pl.Series("amount", o.sim.amount[rt["oi"].to_numpy()]))
    o.writer.write(
        "returns",
        rt.select(
            ids("returns", pl.col("rank")).alias("rma_id"),
            order_id(),
            lookup("reason", R.RETURN_REASONS).alias("reason"),
            pl.when(pl.col("refunded") < end)
            .then(pl.lit("refunded"))
            .when(pl.col("received") < end)
            .then(pl.lit("received"))
            .otherwise(pl.lit("requested"))
            .alias("status"),
            pl.when(pl.col("refunded") < end).then(pl.col("amount").round(2)).alias("refund_amount"),
            ts("t", "returns").alias("requested_at"),
            ts("received", "returns", end).alias("received_at"),
        ),
    )
