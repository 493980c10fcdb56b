"""Push ingest: one batch of records of one kind (a POST body, a Kafka poll), with exactly the
validation, guard, quarantine, conflict detection and idempotency of file ingest.

A batch is written as a source file of its kind into a private folder and ingested by the same
pipeline as a folder on disk, so nothing about a pushed row differs from a row in a file: the
ledger knows the batch by its content (the same body sent twice adds nothing) and, when the
sender gives an idempotency key, by that key too (a retried POST returns the first answer, and a
key reused for another body is refused).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orderscope.domain.sources import BY_NAME, SOURCE_KINDS
from orderscope.ingest.pipeline import IngestError, KindCounts, ingest_folder
from orderscope.ingest.validate import TimeWindow
from orderscope.ports import Stores
from orderscope.views.batches import batch_named, batch_rows

FORMATS = ("json", "ndjson", "csv", "parquet")
_SUFFIX = {"json": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet"}
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class BatchError(ValueError):
    """The batch cannot be taken as a whole (unknown kind, unreadable body, key reuse); the
    message says what to send instead. Rows that are merely bad are quarantined, not refused."""


class KeyReused(BatchError):
    """The idempotency key was already used for a batch with another content."""


@dataclass
class RowOutcome:
    """One row that was not accepted: its number in the batch (1 = first record), why, and
    whether it was rejected or is a conflict with a stored record."""

    row_number: int
    outcome: str
    reason: str


@dataclass
class BatchResult:
    kind: str
    batch: str  # the name the ledger knows the batch by
    replayed: bool  # the same batch was ingested before: nothing was added now
    counts: KindCounts
    rows: list[RowOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        counts = asdict(self.counts)
        return {
            "kind": self.kind,
            "batch": self.batch,
            "replayed": self.replayed,
            "rows_read": counts["rows_read"],
            "accepted": counts["accepted"],
            "rejected": counts["rejected"],
            "duplicate": counts["duplicate"],
            "conflict": counts["conflict"],
            "rows": [asdict(r) for r in self.rows],
            "seconds": round(self.seconds, 3),
        }


def to_file_body(body: bytes, fmt: str) -> bytes:
    """The body as the bytes of a source file: a JSON array becomes JSON Lines (one record per
    line, so row numbers count records); NDJSON, CSV and Parquet are taken as they are."""
    if fmt != "json":
        return body
    try:
        records = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise BatchError(f"the body is not JSON ({e}); send a JSON array of records") from None
    except RecursionError:
        raise BatchError("the body is JSON nested too deeply to read; send flat records") from None
    if not isinstance(records, list):
        raise BatchError("a JSON body must be an array of records (or send NDJSON)")
    try:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode(
            "utf-8", "surrogatepass"
        )
    except RecursionError:
        raise BatchError("a record is nested too deeply to read; send flat records") from None


def ingest_batch(
    stores: Stores,
    kind: str,
    body: bytes,
    fmt: str,
    key: str | None = None,
    window: TimeWindow | None = None,
) -> BatchResult:
    """Ingest one batch of `kind` records given as `fmt` (json | ndjson | csv | parquet)."""
    source = BY_NAME.get(kind)
    if source is None:
        names = ", ".join(k.name for k in SOURCE_KINDS)
        raise BatchError(f"unknown source kind {kind!r}; use one of {names}")
    if fmt not in FORMATS:
        raise BatchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if key is not None and not _KEY.fullmatch(key):
        raise BatchError("an idempotency key is 1-128 letters, digits and . _ : -")
    data = to_file_body(body, fmt)
    digest = hashlib.blake2b(data, digest_size=20).hexdigest()  # as SourceFile.content_hash
    name = f"{kind}-key-{key}" if key else f"{kind}-batch-{digest[:24]}"
    if key:
        earlier = _earlier(stores, key)
        if earlier is not None:
            return _replay(stores, kind, name, earlier, digest)
    with tempfile.TemporaryDirectory(prefix="orderscope-batch-") as tmp:
        path = Path(tmp) / f"{name}.{_SUFFIX[fmt]}"
        path.write_bytes(data)
        try:
            report = ingest_folder(Path(tmp), stores, window=window)
        except IngestError as e:  # cannot happen for a named file; say it plainly if it does
            raise BatchError(str(e)) from None
    counts = report.kinds[kind]
    if report.failed_files:
        raise BatchError(f"the batch could not be read: {report.failed_files[0]['error']}")
    return BatchResult(
        kind=kind,
        batch=name,
        replayed=counts.skipped_files > 0,
        counts=counts,
        rows=_outcomes(stores, digest),
        seconds=report.seconds,
    )


def _key_names(key: str) -> list[str]:
    """Every file name a batch with this key may have been ingested under (any kind, any
    format): a key names one batch, whatever it was sent as."""
    return [f"{k.name}-key-{key}.{suffix}" for k in SOURCE_KINDS for suffix in sorted(set(_SUFFIX.values()))]


def _earlier(stores: Stores, key: str) -> dict[str, Any] | None:
    return batch_named(stores, _key_names(key))


def _replay(stores: Stores, kind: str, name: str, earlier: dict[str, Any], digest: str) -> BatchResult:
    """The answer to a retried batch: the first run's counts, nothing added now."""
    if earlier["content_hash"] != digest or earlier["kind"] != kind:
        raise KeyReused(
            f"idempotency key {name.split('-key-', 1)[1]!r} was already used for another batch "
            f"({earlier['kind']}, {earlier['rows_read']} rows); send new records with a new key"
        )
    counts = KindCounts(
        files=1,
        rows_read=int(earlier["rows_read"] or 0),
        accepted=int(earlier["accepted"] or 0),
        rejected=int(earlier["rejected"] or 0),
        duplicate=int(earlier["duplicate"] or 0),
        conflict=int(earlier.get("conflict") or 0),
        skipped_files=1,
    )
    return BatchResult(kind, name, True, counts, _outcomes(stores, digest))


def _outcomes(stores: Stores, content_hash: str) -> list[RowOutcome]:
    frame = batch_rows(stores, content_hash)
    return [
        RowOutcome(int(r["row_number"]), str(r["outcome"] or "rejected"), str(r["reason"]))
        for r in frame.iter_rows(named=True)
    ]
