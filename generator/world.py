"""The fixed world the demo data lives in: regions, warehouses, zones, equipment, staff, carriers.

Everything here is independent of the number of orders and of the seed's order stream, so the same
entity ids appear in every generated data set (an analyst learns them once).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import numpy as np

from orderscope.domain.lifecycle import LIFECYCLE_NODES

# -- time units (int64 milliseconds since the epoch, UTC) -------------------------------------
SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
WEEK = 7 * DAY
LOCAL = 8 * HOUR  # warehouses, hubs, service centre and brokers work on local time UTC+08:00

DEFAULT_START = datetime(2026, 10, 26, tzinfo=UTC)

NODE = {n: i for i, n in enumerate(LIFECYCLE_NODES)}
ROLES = ("user", "system", "operator", "carrier", "broker")
R_USER, R_SYSTEM, R_OPERATOR, R_CARRIER, R_BROKER = range(5)

REASONS = (
    "OUT_OF_STOCK",
    "QC_FAILED",
    "ADDRESS_CHANGED",
    "CUSTOMS_HOLD",
    "CUSTOMER_CANCELLED",
    "PAYMENT_TIMEOUT",
    "RISK_REJECTED",
    "EXPRESS_PICK",
    "ORDER_REINSTATED",
    "DELIVERY_FAILED",
    "DAMAGED",
    "WRONG_ITEM",
    "NOT_AS_DESCRIBED",
    "CHANGED_MIND",
    "MANUAL_OVERRIDE",
)
RC = {r: i for i, r in enumerate(REASONS)}

# -- geography --------------------------------------------------------------------------------
REGIONS = ("North", "South", "East", "West", "Central")
RCODE = ("N", "S", "E", "W", "C")
REGION_SHARE = np.array([0.24, 0.22, 0.22, 0.14, 0.18])
WH_CODES = tuple(f"{c}{k}" for c in RCODE for k in (1, 2))  # N1 N2 S1 ...
WAREHOUSES = tuple(f"WH-{c}" for c in WH_CODES)
WH_REGION = np.repeat(np.arange(5), 2)
WH_SHARE_IN_REGION = np.array([0.70, 0.30, 0.6, 0.4, 0.55, 0.45, 0.6, 0.4, 0.65, 0.35])
# duration multiplier (>1 = slower site)
WH_SPEED = np.array([1.0, 1.2, 0.9, 1.15, 0.85, 1.1, 1.3, 1.05, 0.95, 1.25])
N_WH = len(WAREHOUSES)
ZONES_PER_WH = 4
N_ZONES = N_WH * ZONES_PER_WH
ZONES = tuple(f"WH-{w}-Z{z + 1}" for w in WH_CODES for z in range(ZONES_PER_WH))
ZONE_WH = np.repeat(np.arange(N_WH), ZONES_PER_WH)
EQUIP_PER_ZONE = 2
EQUIPMENT = tuple(f"EQ-{w}-Z{z + 1}-{e + 1}" for w in WH_CODES for z in range(4) for e in range(2))
EQ_ZONE = np.repeat(np.arange(N_ZONES), EQUIP_PER_ZONE)
SENSORS = tuple(f"SEN-{w}-Z{z + 1}" for w in WH_CODES for z in range(4))

# -- commerce ---------------------------------------------------------------------------------
CHANNELS = ("web", "app", "marketplace", "store")
CHANNEL_SHARE = np.array([0.34, 0.34, 0.22, 0.10])
CATEGORIES = ("electronics", "apparel", "home", "beauty", "grocery", "toys")
CAT_PREFIX = ("EL", "AP", "HO", "BE", "GR", "TO")
CAT_SHARE = np.array([0.20, 0.25, 0.18, 0.12, 0.15, 0.10])
CAT_ZONE = np.array([2, 0, 1, 3, 1, 3])  # electronics Z3, apparel Z1, home+grocery Z2, beauty+toys Z4
CAT_PRICE = np.array([1200.0, 220.0, 320.0, 160.0, 65.0, 180.0])  # CNY median unit price
SKUS_PER_CAT = 40
SKUS = tuple(f"SKU-{p}-{k + 1:04d}" for p in CAT_PREFIX for k in range(SKUS_PER_CAT))
HOME_COUNTRY = "CN"
HOME_CURRENCY = "CNY"
COUNTRIES = ("US", "DE", "GB", "JP", "AU", "SG")
COUNTRY_SHARE = np.array([0.30, 0.18, 0.12, 0.16, 0.10, 0.14])
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "SGD")
FX = np.array([0.14, 0.13, 0.11, 21.0, 0.21, 0.19])  # CNY -> currency
CROSS_BORDER_SHARE = 0.20

# -- logistics --------------------------------------------------------------------------------
CARRIERS = ("CR01", "CR02", "CR03", "CR04", "CR05")
CARRIER_DOMESTIC_SHARE = np.array([0.30, 0.25, 0.25, 0.10, 0.10])
CARRIER_XB_SHARE = np.array([0.0, 0.0, 0.0, 0.55, 0.45])
# hubs: every carrier has a sort hub next to every warehouse; CR04/CR05 also one per country
HUBS = tuple(f"HUB-{c}-{w}" for c in CARRIERS for w in WH_CODES) + tuple(
    f"HUB-{c}-{k}" for c in CARRIERS[3:] for k in COUNTRIES
)
HUB_CARRIER = np.concatenate([np.repeat(np.arange(5), N_WH), np.repeat([3, 4], len(COUNTRIES))])
HUB_LOCATION = tuple(
    f"{REGIONS[WH_REGION[i]]} sort centre {w}" for c in CARRIERS for i, w in enumerate(WH_CODES)
) + tuple(f"{k} gateway" for c in CARRIERS[3:] for k in COUNTRIES)


def dom_hub(carrier: np.ndarray, wh: np.ndarray) -> np.ndarray:
    return carrier * N_WH + wh


def xb_hub(carrier: np.ndarray, country: np.ndarray) -> np.ndarray:
    return 5 * N_WH + (carrier - 3) * len(COUNTRIES) + country


BROKERS = ("BRK-01", "BRK-02", "BRK-03", "BRK-04")
BROKER_SHARE = np.array([0.30, 0.30, 0.25, 0.15])

# -- staff ------------------------------------------------------------------------------------
SHIFT_NAMES = "ABC"  # A 06-14, B 14-22, C 22-06 local
OP_CREW = np.array([4, 4, 3])  # operators per zone and shift (one of them off each day)
QI_CREW = np.array([3, 3, 2])  # QC inspectors per zone and shift
CSA_CREW = np.array([8, 8, 4])  # customer-service agents per shift (one "zone": the centre)
SUPERVISORS = tuple(f"SUP-{k + 1:02d}" for k in range(6))
TECHNICIANS = tuple(f"TECH-{k + 1:02d}" for k in range(5))
SYSTEM_ACTORS = ("SYS-OMS", "SYS-PAY", "SYS-RISK", "SYS-WMS", "SYS-RMA")
A_OMS, A_PAY, A_RISK, A_WMS, A_RMA = range(5)


def crew_ids(prefix: str, crews: np.ndarray, zones: tuple[str, ...]) -> list[str]:
    out = []
    for z in zones:
        for s in range(3):
            for k in range(int(crews[s])):
                out.append(f"{prefix}-{z}-{SHIFT_NAMES[s]}{k + 1}")
    return out


ZONE_SHORT = tuple(f"{w}-Z{z + 1}" for w in WH_CODES for z in range(4))
OPERATORS = crew_ids("OP", OP_CREW, ZONE_SHORT)
INSPECTORS = crew_ids("QI", QI_CREW, ZONE_SHORT)
AGENTS = [f"CSA-{SHIFT_NAMES[s]}{k + 1:02d}" for s in range(3) for k in range(int(CSA_CREW[s]))]


class Actors:
    """One table of every actor id; events and records hold indexes into it."""

    def __init__(self, n_customers: int):
        names: list[str] = []

        def block(ids) -> int:
            off = len(names)
            names.extend(ids)
            return off

        self.system = block(SYSTEM_ACTORS)
        self.carrier = block(CARRIERS)
        self.broker = block(BROKERS)
        self.supervisor = block(SUPERVISORS)
        self.operator = block(OPERATORS)
        self.inspector = block(INSPECTORS)
        self.agent = block(AGENTS)
        self.n_staff = len(names)
        self.customer = len(names)
        self.n_customers = n_customers
        self.staff_names = names

    def customer_id(self, k: np.ndarray) -> np.ndarray:
        return self.customer + k


def customer_ids_width(n: int) -> int:
    return max(6, len(str(n)))


def shift_of(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shift day, shift 0..2) of UTC times; shifts start 06:00, 14:00, 22:00 local."""
    shifted = t + LOCAL - 6 * HOUR
    return shifted // DAY, (shifted % DAY) // (8 * HOUR)


def crew_member(crews: np.ndarray, zone: np.ndarray, t: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index (within a crew_ids table) of a crew member on shift at t in zone; one is off per day."""
    sday, s = shift_of(t)
    n = crews[s]
    off = (sday + zone) % n
    r = np.minimum((u * (n - 1)).astype(np.int64), n - 2)
    k = r + (r >= off)
    per_zone = int(crews.sum())
    shift_off = np.concatenate([[0], np.cumsum(crews)[:-1]])[s]
    return zone * per_zone + shift_off + k


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per component, so scenarios share their normal noise.
    numpy takes non-negative seed words only: a negative seed gets its own streams (a third
    word marks it)."""
    key = [seed, zlib.crc32(name.encode())]
    return np.random.default_rng(key if seed >= 0 else [-seed, key[1], 1])
