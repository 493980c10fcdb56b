"""What the simulation records and the writers print: record kinds, diff templates, column codes.

The simulation keeps every categorical column as a small integer (an index into one of these
tuples); the writers turn the index back into its text.
"""

from __future__ import annotations

import numpy as np

I8, I32, I64 = np.int8, np.int32, np.int64

# record kinds referenced from events (impact / evidence)
K = {
    k: i
    for i, k in enumerate(
        (
            "payments",
            "inventory_allocations",
            "warehouse_tasks",
            "qc_reports",
            "shipments",
            "logistics_tracks",
            "customs_declarations",
            "approvals",
            "notifications",
            "returns",
        )
    )
}
KIND_NAMES = tuple(K)

# diff templates, rendered by the writer
D_NONE, D_PAY, D_ALLOC, D_ADDR, D_WAYBILL, D_CANCEL, D_REFUND, D_CUSTOMS, D_ATTEMPT, D_QC = range(10)

# enumerations of record columns
TASK_TYPES = ("wave", "pick", "pack", "sort")
QC_RESULTS = ("pass", "fail", "rework")
DEFECTS = ("D-SCRATCH", "D-LABEL", "D-PACKAGING", "D-MISSING-PART", "D-MEASUREMENT")
ALLOC_STATUS = ("allocated", "stockout", "short")
SCAN_TYPES = (
    "pickup",
    "departed",
    "in_transit",
    "arrived",
    "out_for_delivery",
    "delivered",
    "exception",
    "customs",
)
APPROVAL_TYPES = ("risk_review", "reinstatement", "refund")
TEMPLATES = (
    "order_confirmed",
    "shipped",
    "out_for_delivery",
    "delivered",
    "order_cancelled",
    "refund_issued",
    "delivery_failed",
    "customs_hold",
    "out_of_stock",
    "address_confirmed",
    "delay_notice",
)
T = {t: i for i, t in enumerate(TEMPLATES)}
PROACTIVE = np.array(
    [
        t in ("out_for_delivery", "delivery_failed", "customs_hold", "out_of_stock", "delay_notice")
        for t in TEMPLATES
    ]
)
TOPICS = (
    "where_is_my_order",
    "delivery_failed",
    "return",
    "customs",
    "cancellation",
    "address_change",
    "product_question",
)
RETURN_REASONS = ("DAMAGED", "WRONG_ITEM", "NOT_AS_DESCRIBED", "CHANGED_MIND")

# The columns the simulation keeps per record kind (Sim.rec, plus what the customs stage adds),
# so a kind with no record at all still gives the writers a frame with every column they select.
_FLAGS = {"incident", "stall", "spike", "overdue"}
_COLUMNS = {
    "inventory_allocations": "oi status t",
    "warehouse_tasks": "oi type wave wh zone op t end",
    "qc_reports": "oi wh zone result defect insp eq t incident",
    "shipments": "oi t",
    "logistics_tracks": "oi ship t hub type",
    "customs_declarations": "oi broker t clear hold_t stall",
    "approvals": "oi type approver decision t decided",
    "notifications": "oi t template",
    "returns": "oi reason t received refunded",
    "service_tickets": "oi channel topic agent t first resolved",
    "operator_sessions": "oi actor role site t end spike",
    "equipment_calibrations": "oi eq t due result tech overdue",
}
LAYOUT: dict[str, dict[str, type]] = {
    kind: {"rid": I64} | {c: bool if c in _FLAGS else I64 for c in cols.split()}
    for kind, cols in _COLUMNS.items()
}
