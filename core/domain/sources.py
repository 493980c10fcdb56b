"""The 17 source kinds: their columns, file formats, identity and how each links to an order.

This table is the contract between the generator, the ingesters, both stores and the snapshot.
It knows nothing about any database: adapters read it to lay out their schemas. What a kind is
(Column, EntityLink, EntityRelation, SourceKind, FRAME_TYPES, conform) lives in `kinds` and is
re-exported here.
"""

from __future__ import annotations

from orderscope.domain.kinds import FRAME_TYPES as FRAME_TYPES
from orderscope.domain.kinds import Column as Column
from orderscope.domain.kinds import ColumnType as ColumnType
from orderscope.domain.kinds import EntityLink as EntityLink
from orderscope.domain.kinds import EntityRelation as EntityRelation
from orderscope.domain.kinds import FileFormat as FileFormat
from orderscope.domain.kinds import SourceKind as SourceKind
from orderscope.domain.kinds import Store as Store
from orderscope.domain.kinds import conform as conform


def _cols(*specs: str) -> tuple[Column, ...]:
    """'name:type' with a trailing '?' for optional columns: compact and easy to scan."""
    out = []
    for spec in specs:
        optional = spec.endswith("?")
        name, _, typ = spec.rstrip("?").partition(":")
        out.append(Column(name, typ or "str", not optional))  # type: ignore[arg-type]
    return tuple(out)


ORDERS = SourceKind(
    name="orders",
    format="csv",
    store="graph",
    key="order_id",
    label="Order",
    columns=_cols(
        "order_id",
        "customer_id",
        "channel",
        "region",
        "warehouse_id",
        "sku",
        "sku_category",
        "quantity:int",
        "amount:float",
        "currency",
        "destination_country",
        "cross_border:bool",
        "created_at:ts",
        "promised_at:ts",
    ),
    time_column="created_at",
    entity_links=(
        EntityLink("customer_id", "Customer", "PLACED_BY"),
        EntityLink("region", "Region", "IN_REGION"),
        EntityLink("warehouse_id", "Warehouse", "FULFILLED_FROM"),
        EntityLink("sku", "Sku", "CONTAINS"),
    ),
    entity_relations=(EntityRelation("warehouse_id", "Warehouse", "IN_REGION", "region", "Region"),),
)

ORDER_EVENTS = SourceKind(
    name="order_events",
    format="jsonl",
    store="series",
    key="event_id",
    columns=_cols(
        "event_id",
        "order_id",
        "at:ts",
        "actor_id",
        "actor_role",
        "from_state?",
        "to_state",
        "reason_code?",
        "evidence?",
        "diff:json?",
        "impact:json?",
    ),
    time_column="at",
)

PAYMENTS = SourceKind(
    name="payments",
    format="csv",
    store="graph",
    key="payment_id",
    label="Payment",
    order_rel="HAS_PAYMENT",
    columns=_cols(
        "payment_id",
        "order_id",
        "method",
        "amount:float",
        "currency",
        "status",
        "authorized_at:ts",
        "captured_at:ts?",
    ),
    time_column="authorized_at",
)

INVENTORY_ALLOCATIONS = SourceKind(
    name="inventory_allocations",
    format="csv",
    store="graph",
    key="allocation_id",
    label="Allocation",
    order_rel="HAS_ALLOCATION",
    columns=_cols(
        "allocation_id",
        "order_id",
        "sku",
        "warehouse_id",
        "quantity:int",
        "status",
        "allocated_at:ts",
    ),
    time_column="allocated_at",
    entity_links=(
        EntityLink("sku", "Sku", "OF_SKU"),
        EntityLink("warehouse_id", "Warehouse", "AT_WAREHOUSE"),
    ),
)

WAREHOUSE_TASKS = SourceKind(
    name="warehouse_tasks",
    format="jsonl",
    store="graph",
    key="task_id",
    label="WarehouseTask",
    order_rel="HAS_TASK",
    columns=_cols(
        "task_id",
        "order_id",
        "task_type",
        "wave_id?",
        "warehouse_id",
        "zone_id",
        "operator_id",
        "started_at:ts",
        "ended_at:ts?",
    ),
    time_column="started_at",
    entity_links=(
        EntityLink("warehouse_id", "Warehouse", "AT_WAREHOUSE"),
        EntityLink("zone_id", "Zone", "IN_ZONE"),
        EntityLink("operator_id", "Operator", "DONE_BY"),
    ),
    entity_relations=(EntityRelation("zone_id", "Zone", "IN_WAREHOUSE", "warehouse_id", "Warehouse"),),
)

QC_REPORTS = SourceKind(
    name="qc_reports",
    format="csv",
    store="graph",
    key="report_no",
    label="QCReport",
    order_rel="HAS_QC_REPORT",
    columns=_cols(
        "report_no",
        "order_id",
        "warehouse_id",
        "zone_id",
        "result",
        "defect_code?",
        "inspector_id",
        "equipment_id",
        "inspected_at:ts",
    ),
    time_column="inspected_at",
    entity_links=(
        EntityLink("warehouse_id", "Warehouse", "AT_WAREHOUSE"),
        EntityLink("zone_id", "Zone", "IN_ZONE"),
        EntityLink("inspector_id", "Operator", "INSPECTED_BY"),
        EntityLink("equipment_id", "Equipment", "USED_EQUIPMENT"),
    ),
    entity_relations=(EntityRelation("equipment_id", "Equipment", "IN_ZONE", "zone_id", "Zone"),),
)

EQUIPMENT_CALIBRATIONS = SourceKind(
    name="equipment_calibrations",
    format="csv",
    store="graph",
    key="calibration_id",
    label="Calibration",
    links_via="equipment of the order's QC reports",
    columns=_cols(
        "calibration_id",
        "equipment_id",
        "warehouse_id",
        "zone_id",
        "calibrated_at:ts",
        "due_at:ts",
        "result",
        "technician?",
    ),
    time_column="calibrated_at",
    entity_links=(EntityLink("equipment_id", "Equipment", "CALIBRATES"),),
    entity_relations=(
        EntityRelation("equipment_id", "Equipment", "IN_ZONE", "zone_id", "Zone"),
        EntityRelation("zone_id", "Zone", "IN_WAREHOUSE", "warehouse_id", "Warehouse"),
    ),
)

CLIMATE_READINGS = SourceKind(
    name="climate_readings",
    format="parquet",
    store="series",
    key="",
    key_columns=("sensor_id", "at"),
    links_via="zone and time window of the order's warehouse tasks",
    columns=_cols(
        "sensor_id",
        "warehouse_id",
        "zone_id",
        "at:ts",
        "temperature_c:float",
        "humidity_pct:float",
    ),
    time_column="at",
)

SHIPMENTS = SourceKind(
    name="shipments",
    format="csv",
    store="graph",
    key="waybill",
    label="Shipment",
    order_rel="SHIPPED_AS",
    columns=_cols(
        "waybill",
        "order_id",
        "carrier_id",
        "origin_hub",
        "dest_hub",
        "service_level",
        "created_at:ts",
        "promised_at:ts?",
    ),
    time_column="created_at",
    entity_links=(
        EntityLink("carrier_id", "Carrier", "CARRIED_BY"),
        EntityLink("origin_hub", "Hub", "FROM_HUB"),
        EntityLink("dest_hub", "Hub", "TO_HUB"),
    ),
)

LOGISTICS_TRACKS = SourceKind(
    name="logistics_tracks",
    format="jsonl",
    store="series",
    key="scan_id",
    links_via="waybill of the order's shipment",
    columns=_cols("scan_id", "waybill", "at:ts", "hub_id?", "location", "scan_type"),
    time_column="at",
)

CARRIER_CAPACITY = SourceKind(
    name="carrier_capacity",
    format="parquet",
    store="series",
    key="",
    key_columns=("carrier_id", "hub_id", "at"),
    links_via="carrier + hub + time of the order's shipment",
    columns=_cols("carrier_id", "hub_id", "at:ts", "load_pct:float", "capacity_parcels:int"),
    time_column="at",
)

CUSTOMS_DECLARATIONS = SourceKind(
    name="customs_declarations",
    format="jsonl",
    store="graph",
    key="declaration_no",
    label="CustomsDeclaration",
    order_rel="DECLARED_AS",
    columns=_cols(
        "declaration_no",
        "order_id",
        "waybill",
        "broker_id",
        "country",
        "status",
        "declared_at:ts",
        "cleared_at:ts?",
        "hold_reason?",
    ),
    time_column="declared_at",
    entity_links=(EntityLink("broker_id", "Broker", "FILED_BY"),),
)

OPERATOR_SESSIONS = SourceKind(
    name="operator_sessions",
    format="parquet",
    store="series",
    key="session_id",
    links_via="actor of the order's events, tasks or declarations + time",
    columns=_cols("session_id", "actor_id", "role", "site", "login_at:ts", "logout_at:ts?"),
    time_column="login_at",
)

SERVICE_TICKETS = SourceKind(
    name="service_tickets",
    format="jsonl",
    store="graph",
    key="ticket_id",
    label="ServiceTicket",
    order_rel="HAS_TICKET",
    columns=_cols(
        "ticket_id",
        "order_id",
        "channel",
        "topic",
        "agent_id",
        "status",
        "opened_at:ts",
        "first_response_at:ts?",
        "resolved_at:ts?",
    ),
    time_column="opened_at",
    entity_links=(EntityLink("agent_id", "Operator", "HANDLED_BY"),),
)

APPROVALS = SourceKind(
    name="approvals",
    format="csv",
    store="graph",
    key="approval_id",
    label="Approval",
    order_rel="HAS_APPROVAL",
    columns=_cols(
        "approval_id",
        "order_id",
        "approval_type",
        "approver_id",
        "decision",
        "requested_at:ts",
        "decided_at:ts?",
        "comment?",
    ),
    time_column="requested_at",
    entity_links=(EntityLink("approver_id", "Operator", "APPROVED_BY"),),
)

NOTIFICATIONS = SourceKind(
    name="notifications",
    format="jsonl",
    store="graph",
    key="notification_id",
    label="Notification",
    order_rel="NOTIFIED_BY",
    columns=_cols(
        "notification_id",
        "order_id",
        "channel",
        "template",
        "proactive:bool",
        "sent_at:ts",
    ),
    time_column="sent_at",
)

RETURNS = SourceKind(
    name="returns",
    format="csv",
    store="graph",
    key="rma_id",
    label="Return",
    order_rel="HAS_RETURN",
    columns=_cols(
        "rma_id",
        "order_id",
        "reason",
        "status",
        "refund_amount:float?",
        "requested_at:ts",
        "received_at:ts?",
    ),
    time_column="requested_at",
)

SOURCE_KINDS: tuple[SourceKind, ...] = (
    ORDERS,
    ORDER_EVENTS,
    PAYMENTS,
    INVENTORY_ALLOCATIONS,
    WAREHOUSE_TASKS,
    QC_REPORTS,
    EQUIPMENT_CALIBRATIONS,
    CLIMATE_READINGS,
    SHIPMENTS,
    LOGISTICS_TRACKS,
    CARRIER_CAPACITY,
    CUSTOMS_DECLARATIONS,
    OPERATOR_SESSIONS,
    SERVICE_TICKETS,
    APPROVALS,
    NOTIFICATIONS,
    RETURNS,
)

BY_NAME: dict[str, SourceKind] = {k.name: k for k in SOURCE_KINDS}

# Entity labels of the service graph (nodes without a source file of their own).
ENTITY_LABELS: tuple[str, ...] = (
    "Customer",
    "Region",
    "Warehouse",
    "Zone",
    "Sku",
    "Equipment",
    "Carrier",
    "Hub",
    "Operator",
    "Broker",
)


def kind(name: str) -> SourceKind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown source kind {name!r}; known: {', '.join(BY_NAME)}") from None


# Fields that carry personal data (a customer's identity, an address change in an event's diff,
# free-text comments): masked wherever they occur for roles that may not see personal data.
PERSONAL_FIELDS: frozenset[str] = frozenset({"customer_id", "diff", "comment"})
