"""The history database: runs keyed by commit, machine and config, with every metric's samples.

One schema for the embedded SQLite file (the default) and a shared PostgreSQL server (a
``postgresql://`` URL: a team's CI machines append to one history). Tables carry an
``hftperf_history_`` prefix so the history can live in a database that holds other things.
The schema is versioned in ``hftperf_history_meta``; opening applies the missing migrations in
order. A file or database that is not an hftperf history (or a newer one) is an error naming it,
and is never written to.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hftperf.errors import DataError
from hftperf.redact import redact_url

__all__ = ["SCHEMA_VERSION", "HistoryStore", "MetricRow", "RunRow", "open_history"]

SCHEMA_ID = "hftperf.history"
# Version history: 1 - runs (commit, branch, machine fingerprint, config hash) and metrics with samples.
SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE hftperf_history_runs ("
        " id {serial} PRIMARY KEY, recorded_at TEXT NOT NULL, source TEXT NOT NULL, label TEXT,"
        " commit_sha TEXT, commit_time BIGINT, commit_subject TEXT, branch TEXT,"
        " machine TEXT NOT NULL, machine_json TEXT NOT NULL, config_hash TEXT NOT NULL,"
        " hftperf_version TEXT, results_dir TEXT)",
        "CREATE TABLE hftperf_history_metrics ("
        " run_id BIGINT NOT NULL REFERENCES hftperf_history_runs(id) ON DELETE CASCADE,"
        " scenario TEXT NOT NULL, kind TEXT NOT NULL, metric TEXT NOT NULL, value DOUBLE PRECISION,"
        " sample_source TEXT NOT NULL, samples TEXT NOT NULL)",
        "CREATE INDEX hftperf_history_series ON hftperf_history_metrics(scenario, metric)",
    ),
}


@dataclass(frozen=True)
class RunRow:
    """One recorded run (or ab session): what was measured, where, on which commit."""

    id: int
    recorded_at: str
    source: str  # "run" or "ab"
    label: str | None
    commit_sha: str | None
    commit_time: int | None  # committer time, seconds since the epoch (orders a series)
    commit_subject: str | None
    branch: str | None
    machine: str  # fingerprint: a short hash of machine_json
    machine_json: str
    config_hash: str
    hftperf_version: str | None
    results_dir: str | None


@dataclass(frozen=True)
class MetricRow:
    """One metric of one scenario of one run, with the samples its statistics can be redone from."""

    run_id: int
    scenario: str
    kind: str
    metric: str
    value: float | None
    sample_source: str  # "intervals", "repeats", "single", "rounds"
    samples: tuple[float, ...]


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class HistoryStore:
    """Append runs and read them back; SQLite or PostgreSQL behind the same few queries."""

    def __init__(self, connection: _Connection, where: str, placeholder: str) -> None:
        self._db = connection
        self.where = where  # the file or the redacted URL, for messages
        self._ph = placeholder

    # -- writing ------------------------------------------------------------------------

    def add_run(self, run: dict[str, Any], metrics: Sequence[dict[str, Any]]) -> int:
        """Insert one run and its metrics in one transaction; returns the run's id."""
        columns = [c for c in RunRow.__dataclass_fields__ if c != "id"]
        sql = (f"INSERT INTO hftperf_history_runs ({', '.join(columns)}) VALUES ({self._marks(len(columns))})"
               " RETURNING id")
        try:
            run_id = int(self._db.execute(sql, [run.get(c) for c in columns]).fetchone()[0])
            metric_sql = ("INSERT INTO hftperf_history_metrics (run_id, scenario, kind, metric, value, sample_source,"
                          f" samples) VALUES ({self._marks(7)})")
            for m in metrics:
                self._db.execute(metric_sql, [run_id, m["scenario"], m["kind"], m["metric"], m["value"],
                                              m["sample_source"], json.dumps(list(m["samples"]))])
            self._db.commit()
        except Exception as exc:
            raise DataError(f"history {self.where}: cannot record the run: {exc}") from None
        return run_id

    # -- reading ------------------------------------------------------------------------

    def runs(self, branch: str | None = None, machine: str | None = None,
             config_hash: str | None = None) -> list[RunRow]:
        """Recorded runs, oldest first, filtered by branch, machine fingerprint and config hash."""
        clauses, params = [], []
        for column, value in (("branch", branch), ("machine", machine), ("config_hash", config_hash)):
            if value is not None:
                clauses.append(f"{column} = {self._ph}" if column != "config_hash" else f"{column} LIKE {self._ph}")
                params.append(value if column != "config_hash" else f"{value}%")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = ", ".join(RunRow.__dataclass_fields__)
        rows = self._db.execute(f"SELECT {columns} FROM hftperf_history_runs{where} ORDER BY id", params).fetchall()
        return [RunRow(*row) for row in rows]

    def metrics(self, scenario: str | None = None, metric: str | None = None) -> list[MetricRow]:
        """Metric rows, optionally of one scenario and one metric."""
        clauses, params = [], []
        for column, value in (("scenario", scenario), ("metric", metric)):
            if value is not None:
                clauses.append(f"{column} = {self._ph}")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute("SELECT run_id, scenario, kind, metric, value, sample_source, samples"
                                f" FROM hftperf_history_metrics{where} ORDER BY run_id", params).fetchall()
        return [MetricRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6]))) for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _marks(self, n: int) -> str:
        return ", ".join([self._ph] * n)


def _tables(db: _Connection, sqlite: bool) -> set[str]:
    if sqlite:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        rows = db.execute("SELECT table_name FROM information_schema.tables"
                          " WHERE table_schema = current_schema()").fetchall()
    return {str(r[0]) for r in rows}


def _migrate(db: _Connection, where: str, sqlite: bool, placeholder: str) -> None:
    """Create or upgrade the schema; refuse a database that is not a history of ours."""
    tables = _tables(db, sqlite)
    ours = {"hftperf_history_meta", "hftperf_history_runs", "hftperf_history_metrics"}
    if "hftperf_history_meta" not in tables:
        if tables & ours or (sqlite and tables):
            raise DataError(f"history {where}: not an hftperf history (it holds other tables: "
                            f"{', '.join(sorted(tables)[:5])}); choose another file or database")
        db.execute("CREATE TABLE hftperf_history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(f"INSERT INTO hftperf_history_meta (key, value) VALUES ('schema', {placeholder})", [SCHEMA_ID])
        db.execute("INSERT INTO hftperf_history_meta (key, value) VALUES ('version', '0')")
    meta = dict(db.execute("SELECT key, value FROM hftperf_history_meta").fetchall())
    if meta.get("schema") != SCHEMA_ID or not str(meta.get("version", "")).isdigit():
        raise DataError(f"history {where}: not an hftperf history (schema {meta.get('schema')!r})")
    version = int(meta["version"])
    if version > SCHEMA_VERSION:
        raise DataError(f"history {where}: written by a newer hftperf (schema version {version}, this one "
                        f"reads up to {SCHEMA_VERSION}); upgrade hftperf")
    serial = "INTEGER" if sqlite else "BIGSERIAL"
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[step]:
            db.execute(statement.format(serial=serial))
        db.execute(f"UPDATE hftperf_history_meta SET value = {placeholder} WHERE key = 'version'", [str(step)])
    db.commit()


def _open_sqlite(path: Path) -> HistoryStore:
    if path.exists() and not path.is_file():
        raise DataError(f"history {path}: not a file")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise DataError(f"history {path}: not an hftperf history (not a SQLite database); "
                                "it was left untouched")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30.0)
        db.execute("PRAGMA foreign_keys = ON")
        _migrate(db, str(path), sqlite=True, placeholder="?")
    except sqlite3.DatabaseError as exc:
        raise DataError(f"history {path}: cannot use it as a history database: {exc}") from None
    except OSError as exc:
        raise DataError(f"history {path}: {exc.strerror or exc}") from None
    return HistoryStore(db, str(path), "?")


def _open_postgres(url: str) -> HistoryStore:
    shown = redact_url(url)
    try:
        import psycopg
    except ImportError:
        raise DataError(f"history {shown}: PostgreSQL needs psycopg: pip install 'hftperf[postgres]'") from None
    try:
        db = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise DataError(f"history {shown}: cannot connect: {' '.join(str(exc).split())[:200]}") from None
    try:
        _migrate(db, shown, sqlite=False, placeholder="%s")
    except psycopg.Error as exc:
        db.close()
        raise DataError(f"history {shown}: cannot use it as a history database: {exc}") from None
    except DataError:
        db.close()
        raise
    return HistoryStore(db, shown, "%s")


def open_history(url: str) -> HistoryStore:
    """The history at ``url``: a file path (SQLite) or a ``postgresql://`` URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url)
    if "://" in url:
        raise DataError(f"history {redact_url(url)}: expected a file path or a postgresql:// URL")
    return _open_sqlite(Path(url))
