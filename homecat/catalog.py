"""The DuckDB catalog: opening, locking, versioned schema migrations and the SQL files.

SQL lives in ``sql/``: schema migrations ``schema/vN.sql``, named report queries ``reports/*.sql``
and each stage's named reads and writes ``queries/*.sql``, run through ``Catalog.rows`` and ``Catalog.run``;
no other module holds INSERT, UPDATE or DELETE text (tests/test_sql_layout.py). In a checkout it is read from the repository; an installed wheel carries the
same files as ``homecat/sql``. This module never imports typer.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
import pyarrow as pa

from homecat.errors import CatalogError, CatalogLocked, NoCatalog, first_line
from homecat.settings import PathSettings

# How often a process waiting for the catalog tries again: the holder of a shared catalog commits for
# a fraction of a second at a time, so the waiter gets in within about this much of it finishing.
_RETRY_SEC = 0.05
# A shared catalog's holder with more to store after a visit pauses this long before taking the file back:
# longer than a waiter's retry interval (up to 2 * _RETRY_SEC), so a waiter tries, and gets in, meanwhile.
_GIVE_WAY_SEC = 4 * _RETRY_SEC
# A visit to a shared catalog ends after this fraction of paths.catalog_read_wait_sec (the rest of its
# batch waits for the next visit), so a reader that came just after the visit began still gets in.
_VISIT_SHARE_OF_READ_WAIT = 0.25
_Item = TypeVar("_Item")
# DuckDB names the holder "in /usr/bin/python3 (PID 123)", or "in PID 0" when the holder let go between the
# failed lock and DuckDB's question who holds it (a shared catalog's visit ending): then retrying gets in.
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?:(?P<program>.+?) \(PID (?P<pid>\d+)\)|PID (?P<unnamed>\d+))")


def sql_root() -> Traversable:
    """The folder of .sql files: inside the installed package, else the checkout's ``sql/``."""
    packaged = resources.files("homecat").joinpath("sql")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "sql"
    if checkout.is_dir():
        return checkout
    raise CatalogError("The SQL files are missing from this installation (expected homecat/sql or ./sql).")


def read_sql(relative: str) -> str:
    """Text of one SQL file, e.g. ``read_sql("schema/v1.sql")``."""
    node = sql_root()
    for part in relative.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def schema_versions() -> list[int]:
    """Versions for which a ``schema/vN.sql`` migration exists, ascending."""
    names = [n.name for n in sql_root().joinpath("schema").iterdir()]
    return sorted(int(m.group(1)) for n in names if (m := re.fullmatch(r"v(\d+)\.sql", n)))


def latest_schema_version() -> int:
    return schema_versions()[-1]


@dataclass(frozen=True)
class NamedQuery:
    name: str
    doc: str
    sql: str


def named_queries(relative: str) -> dict[str, NamedQuery]:
    """Queries of a file split on ``-- name: NAME`` headers; the comment lines after it are the doc."""
    queries: dict[str, NamedQuery] = {}
    for block in re.split(r"^-- name:\s*", read_sql(relative), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        doc_lines = []
        sql_lines = []
        for line in body.splitlines():
            if line.startswith("--") and not sql_lines:
                doc_lines.append(line[2:].strip())
            else:
                sql_lines.append(line)
        queries[name.strip()] = NamedQuery(name.strip(), " ".join(doc_lines), "\n".join(sql_lines).strip())
    return queries


@functools.cache
def _statement(relative: str, name: str) -> str:
    """The SQL of one named statement, read once per process (a stage runs some once per recording)."""
    return named_queries(relative)[name].sql


class Catalog:
    """An open catalog. Use as a context manager; ``transaction()`` groups writes.

    A *shared* catalog (``Catalog.open(..., shared=True)``, for long stages and imports) holds the file only
    while it is used: ``release()`` closes it so other processes get in (DuckDB lets no process read a file
    another one writes), and the next use of ``con`` opens it again, waiting for its turn. Outside a
    ``visit()`` each transaction, and each read through ``rows()``, releases the file when it ends;
    ``batched()`` groups a stage's per-recording transactions into one visit every ``commit_every_sec``,
    and ends a visit after ``visit_max_sec`` (a quarter of the readers' wait) whatever is left to store.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        read_only: bool,
        wait_sec: float = 0.0,
        shared: bool = False,
        commit_every_sec: float = 0.0,
        visit_max_sec: float = PathSettings().catalog_read_wait_sec * _VISIT_SHARE_OF_READ_WAIT,
    ):
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only
        self.wait_sec = wait_sec
        self.shared = shared
        self.commit_every_sec = commit_every_sec
        self.visit_max_sec = visit_max_sec
        self._visits = 0

    @classmethod
    def open(
        cls,
        path: str | Path | PathSettings,
        read_only: bool = False,
        upto_version: int | None = None,
        shared: bool = False,
    ) -> Catalog:
        """Open (creating if needed) and migrate to the newest schema, or ``upto_version`` (tests).

        Given the ``paths`` settings instead of a file, a catalog another process holds is waited for
        (``catalog_read_wait_sec`` or ``catalog_write_wait_sec``) before the lock sentence; given a
        file, it is not. ``shared``: see the class.
        """
        wait_sec = commit_every_sec = 0.0
        visit_max_sec = PathSettings().catalog_read_wait_sec * _VISIT_SHARE_OF_READ_WAIT
        if isinstance(path, PathSettings):
            wait_sec = path.catalog_read_wait_sec if read_only else path.catalog_write_wait_sec
            commit_every_sec = path.catalog_commit_every_sec
            visit_max_sec = path.catalog_read_wait_sec * _VISIT_SHARE_OF_READ_WAIT
            path = path.catalog
        path = Path(path)
        if read_only and not path.exists():
            raise NoCatalog(path)
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"The catalog's folder {path.parent} cannot be created: {exc.strerror}.") from None
        if shared:
            # Its holder builds Arrow tables during visits, and pyarrow imports pandas on its first conversion
            # (1-3 s on a busy machine): let that happen now, before the file is first taken, not during a visit.
            pa.array([0])
        con = _connect(path, read_only, wait_sec)
        catalog = cls(con, path, read_only, wait_sec, shared, commit_every_sec, visit_max_sec)
        try:
            catalog._check_complete()
            catalog._check_identity()
            catalog._migrate(upto_version)
        except BaseException:
            con.close()
            raise
        catalog.release()  # a shared catalog is free until its first use (an import reads its files meanwhile)
        return catalog

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection; a released shared catalog opens the file again (waiting for its turn)."""
        if self._con is None:
            self._con = _connect(self.path, self.read_only, self.wait_sec)
        return self._con

    def release(self) -> None:
        """A shared catalog closes the file (unless inside a visit), so other processes can use it."""
        if self.shared and self._visits == 0 and self._con is not None:
            self._con.close()  # DuckDB writes its log into the file here: a reader then sees every commit
            self._con = None

    @contextmanager
    def visit(self) -> Iterator[Catalog]:
        """Keep the file for everything inside (several transactions), then release it."""
        self._visits += 1
        try:
            yield self
        finally:
            self._visits -= 1
            self.release()

    def batched(self, store: Callable[[list[_Item]], object], per_transaction: int = 1) -> BatchedWrites[_Item]:
        """Hand ``store`` (one transaction per call) up to ``per_transaction`` items at a time, a batch of items
        per visit; see ``BatchedWrites``."""
        return BatchedWrites(self, store, per_transaction)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        with suppress(duckdb.Error):  # the error that ends the block is the one to report
            self.close()
        # A damaged file shows only when a query reaches the bad block: name the catalog, not DuckDB's internals.
        # Only an error about the catalog file itself says so: an I/O error on another file (an export's
        # COPY into a read-only folder) names that file and leaves the catalog out of it.
        text = str(exc)
        if (
            isinstance(exc, duckdb.FatalException)
            or "Corrupt database file" in text
            or (isinstance(exc, duckdb.IOException) and str(self.path) in text)
        ):
            raise CatalogError(
                f"The catalog {self.path} cannot be read or written ({first_line(exc)}): it may be damaged "
                "(restore it from a copy) or its disk may have failed."
            ) from exc
        if isinstance(exc, duckdb.IOException):
            raise CatalogError(f"A file could not be read or written: {first_line(exc)}.") from exc

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Everything inside commits together or not at all (a kill mid-way leaves the last commit)."""
        self._visits += 1  # a read inside (``rows``) must not release the file mid-transaction
        try:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except duckdb.IOException as exc:  # a write that failed on disk: the file keeps the last commit
                with suppress(duckdb.Error):  # after some IO errors DuckDB has already ended the transaction
                    self.con.execute("ROLLBACK")
                raise self._write_error(exc) from None
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            try:
                self.con.execute("COMMIT")
            except (duckdb.IOException, duckdb.TransactionException) as exc:  # DuckDB rolls back a failed commit
                raise self._write_error(exc) from None
        finally:
            self._visits -= 1
        self.release()

    def _write_error(self, exc: duckdb.Error) -> CatalogError:
        if "No space left" in str(exc):
            return CatalogError(
                f"The disk holding the catalog {self.path} is full: this batch was not written and the ones "
                "before it are kept; free some space and rerun to finish."
            )
        return CatalogError(
            f"Writing the catalog {self.path} failed ({first_line(exc)}); the batches before are kept: rerun to finish."
        )

    def _check_complete(self) -> None:
        """A file too short to hold the blocks in use was cut off (a partial copy, a full disk).

        DuckDB would open it and fail, or read zeros, on the first query that reaches a missing block.
        Blocks in use lie anywhere below the file's end, so fewer bytes than they need is sure to be a cut.
        """
        block_size, used_blocks = self.con.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
        ).fetchone()
        size_bytes = self.path.stat().st_size
        if size_bytes < block_size * used_blocks:
            raise CatalogError(
                f"The catalog {self.path} is truncated ({size_bytes} bytes, too few for the {used_blocks} blocks of "
                f"{block_size} bytes it uses): restore it from a copy, or start a new one with --catalog."
            )

    def _check_identity(self) -> None:
        """Refuse a DuckDB database that is someone else's: homecat adds its tables only to its own or an empty one."""
        tables = {
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
                "UNION ALL SELECT view_name FROM duckdb_views() "
                "WHERE database_name = current_database() AND NOT internal AND NOT temporary"
            ).fetchall()
        }
        # The mark since schema v7; catalogs written before it have these two tables.
        if not tables or "homecat_catalog" in tables or {"schema_version", "recordings"} <= tables:
            return
        shown = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
        raise CatalogError(
            f"{self.path} is a DuckDB database but not a homecat catalog (it holds {shown}); nothing was added "
            "to it: choose another file with --catalog."
        )

    def forbid_outside_access(self) -> None:
        """From now on this connection reads its own database only: no other file, no extension, no setting.

        The file is already open, so turning external access off now keeps the catalog readable;
        locking the configuration last stops a query from turning any of it back on.
        """
        for setting in (
            "autoinstall_known_extensions",
            "autoload_known_extensions",
            "allow_community_extensions",
            "enable_external_access",
        ):
            self.con.execute(f"SET {setting} = false")
        self.con.execute("SET lock_configuration = true")

    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()[0]
        if not exists:
            return 0
        return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]

    def rows(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run a query; return (column names, rows). A shared catalog is released after it (outside a visit)."""
        with self.visit():
            cursor = self.con.execute(sql, params or [])
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()

    def run(
        self, relative: str, name: str, params: list[Any] | dict[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run the named statement ``name`` of the SQL file ``relative`` (an insert, update or delete:
        every write of homecat is one), e.g. ``run("queries/scan.sql", "mark_missing", {"rel_paths": paths})``."""
        return self.con.execute(_statement(relative, name), params or [])

    def run_many(self, relative: str, name: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run the named statement ``name`` of ``relative`` once per row of parameters."""
        self.con.executemany(_statement(relative, name), rows)

    def _migrate(self, upto_version: int | None) -> None:
        current = self.schema_version()
        target = upto_version or latest_schema_version()
        if current > latest_schema_version():
            raise CatalogError(
                f"The catalog {self.path} has schema v{current}, newer than this homecat knows "
                f"(v{latest_schema_version()}): upgrade homecat."
            )
        pending = [v for v in schema_versions() if current < v <= target]
        if not pending:
            return
        if self.read_only:
            raise CatalogError(
                f"The catalog {self.path} has schema v{current} and needs an upgrade to v{target}: "
                "run any writing command (e.g. 'homecat scan') once."
            )
        # All pending migrations in one transaction: an interrupted upgrade leaves the old schema intact.
        with self.transaction() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
            for version in pending:
                con.execute(read_sql(f"schema/v{version}.sql"))
                con.execute("INSERT INTO schema_version VALUES (?, current_timestamp)", [version])


# A catalog held by one process (tests, benchmarks, library use) commits at least this often.
_HELD_COMMIT_SEC = 1.0


class BatchedWrites(Generic[_Item]):
    """A stage's results, stored a batch per visit to the catalog file: ``add`` each, ``flush`` at the end.

    On a shared catalog items wait in memory until ``commit_every_sec`` has passed since the last
    batch (each visit costs an open and a close, ~0.1 s); on a held one until a transaction's worth
    (``per_transaction``) or ``_HELD_COMMIT_SEC`` of work is waiting (a few statements per file are most
    of validating a short file). ``store``
    takes up to ``per_transaction`` items in one transaction (a few set-based statements cost less than
    a few per item). A visit stores waiting items until ``visit_max_sec`` has passed (a loaded machine or
    a big backlog makes each slower), then gives the file up for ``_GIVE_WAY_SEC`` so waiting readers get
    in, and goes on in a new visit: the file is held at most ``visit_max_sec`` plus one transaction at a
    time, by time and by size. A kill loses the items waiting, and a rerun redoes those recordings.
    """

    def __init__(self, catalog: Catalog, store: Callable[[list[_Item]], object], per_transaction: int = 1):
        self.catalog = catalog
        self.store = store
        self.per_transaction = max(1, per_transaction)
        self.waiting: list[_Item] = []
        self.last_flush = time.monotonic()

    def add(self, item: _Item) -> None:
        self.waiting.append(item)
        since = time.monotonic() - self.last_flush
        if self.catalog.shared:
            due = since >= self.catalog.commit_every_sec
        else:  # a held catalog has no visit to save, only statements: a full transaction, or a second's work
            due = len(self.waiting) >= self.per_transaction or since >= _HELD_COMMIT_SEC
        if due:
            self.flush()

    def flush(self) -> None:
        items, self.waiting = self.waiting, []  # a failed visit is not retried: a rerun redoes those recordings
        step = self.per_transaction
        chunks = [items[i : i + step] for i in range(0, len(items), step)]
        while chunks:
            with self.catalog.visit():
                visit_end = time.monotonic() + self.catalog.visit_max_sec
                while chunks:
                    self.store(chunks.pop(0))
                    if self.catalog.shared and time.monotonic() >= visit_end:
                        break
            if chunks and self.catalog.shared:
                time.sleep(_GIVE_WAY_SEC)  # the file is free: a reader waiting for it gets in now
        self.last_flush = time.monotonic()


def _connect(path: Path, read_only: bool, wait_sec: float) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``; while another process holds it, retry until ``wait_sec`` has passed."""
    deadline = time.monotonic() + wait_sec
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            error = _open_error(path, exc)
            left = deadline - time.monotonic()
            if not isinstance(error, CatalogLocked) or left <= 0:
                raise error from None
        except duckdb.Error as exc:
            raise CatalogError(f"The catalog {path} cannot be opened: {first_line(exc)}") from None
        # a little jitter, so two waiting writers do not retry in step
        time.sleep(min(left, _RETRY_SEC * (1 + random.random())))


def _open_error(path: Path, exc: duckdb.IOException) -> Exception:
    text = str(exc)
    match = _LOCK_HOLDER.search(text)
    if not match:
        if "not a valid DuckDB database file" in text or "Could not read enough bytes" in text:
            return CatalogError(
                f"The catalog {path} is damaged or not a DuckDB file ({first_line(exc)}): restore it from a copy, "
                "or start a new one with --catalog."
            )
        if "Permission denied" in text:
            return CatalogError(f"The catalog {path} cannot be opened: permission denied.")
        return CatalogError(f"The catalog {path} cannot be opened: {first_line(exc)}")
    if match["unnamed"] is not None:
        return CatalogLocked(
            f"The catalog {path} is in use by another process; wait for it to finish, or use another catalog "
            "with --catalog."
        )
    program = Path(match["program"]).name
    return CatalogLocked(
        f"The catalog {path} is in use by another process (PID {match['pid']}, {program}); "
        "wait for it to finish, or use another catalog with --catalog."
    )
