"""The feedback store: one SQLite file holding model versions, served answers, feedback and the audit log.

SQLite is a real database and needs no server, which is why it suits a laptop lab and an embedded
production service alike. What makes it safe to write from a notebook, a widget and a background job at
the same time:

- WAL mode: readers never block the writer and a crash mid-write leaves the last commit intact;
- each write is one transaction taken with `BEGIN IMMEDIATE` (the write lock at the start, so two writers
  never deadlock on a lock upgrade), and a busy timeout makes a second writer wait instead of failing;
- foreign keys on, and CHECK constraints as a second line behind the validation done in Python;
- a schema version (`PRAGMA user_version`) moved forward by an ordered list of migrations, each applied
  in its own transaction, so an old store opens in a new course version without losing a row.

Every record is validated before anything is written: a bad record raises `FeedbackError` naming the
field and the value, and a batch with one bad record writes nothing.

    store = Store("runs/latest/feedback.sqlite")
    store.add_model_version("v0", base_model="smollm2-135m-instruct", status="champion")
    a = store.log_interaction("v0", "q1", "Where is Acme?", "Lisbon [d1]", round=1)
    store.add_feedback(a, "thumbs", "up", source="simulated", annotator="gold")
    exports = store.export()            # datasets.Dataset in TRL's SFT / DPO / KTO formats
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

KINDS = ("thumbs", "pairwise", "edit", "rating")
THUMBS = ("up", "down")
# Pairwise values name the better answer: "a" is the row's interaction, "b" its `other_interaction_id`.
PAIRWISE = ("a", "b", "tie", "both_wrong")
RATING_RANGE = (1, 5)
SOURCES = ("human", "simulated", "ai-judge")
STATUSES = ("champion", "challenger", "rejected", "retired")
AUDIT_ACTIONS = ("register", "promote", "reject", "rollback")
BUSY_TIMEOUT_S = 30.0

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# Each migration is a list of statements applied in one transaction; its position + 1 is the schema version
# it produces. Never edit a released migration: append a new one.
MIGRATIONS: list[list[str]] = [
    # 1: the core tables.
    [
        f"""CREATE TABLE model_versions (
            id TEXT PRIMARY KEY,
            parent_id TEXT REFERENCES model_versions(id),
            base_model TEXT NOT NULL,
            adapter_path TEXT,
            train_data_hash TEXT,
            status TEXT NOT NULL CHECK (status IN ({_quoted(STATUSES)})),
            metrics TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(metrics)),
            created TEXT NOT NULL DEFAULT {_NOW})""",
        "CREATE UNIQUE INDEX one_champion ON model_versions(status) WHERE status = 'champion'",
        f"""CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            model_version TEXT NOT NULL REFERENCES model_versions(id),
            question_id TEXT NOT NULL,
            prompt TEXT NOT NULL,
            system TEXT,
            retrieved_doc_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(retrieved_doc_ids)),
            response TEXT NOT NULL,
            tokens_in INTEGER CHECK (tokens_in >= 0),
            tokens_out INTEGER CHECK (tokens_out >= 0),
            latency_s REAL CHECK (latency_s >= 0),
            created TEXT NOT NULL DEFAULT {_NOW})""",
        f"""CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            interaction_id INTEGER NOT NULL REFERENCES interactions(id),
            other_interaction_id INTEGER REFERENCES interactions(id),
            kind TEXT NOT NULL CHECK (kind IN ({_quoted(KINDS)})),
            value TEXT NOT NULL,
            reason TEXT,
            source TEXT NOT NULL CHECK (source IN ({_quoted(SOURCES)})),
            annotator TEXT NOT NULL CHECK (annotator <> ''),
            created TEXT NOT NULL DEFAULT {_NOW},
            CHECK ((kind = 'pairwise') = (other_interaction_id IS NOT NULL)))""",
        f"""CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL CHECK (action IN ({_quoted(AUDIT_ACTIONS)})),
            model_version TEXT REFERENCES model_versions(id),
            previous_champion TEXT REFERENCES model_versions(id),
            reasons TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
            numbers TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(numbers)),
            created TEXT NOT NULL DEFAULT {_NOW})""",
    ],
    # 2: the feedback loop's round on interactions and feedback, and indexes for the per-round reads.
    [
        "ALTER TABLE interactions ADD COLUMN round INTEGER",
        "ALTER TABLE feedback ADD COLUMN round INTEGER",
        "CREATE INDEX feedback_by_round ON feedback(round, kind)",
        "CREATE INDEX feedback_by_interaction ON feedback(interaction_id)",
        "CREATE INDEX interactions_by_round ON interactions(round, question_id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class FeedbackError(ValueError):
    """A record the store refuses; names the field and the value. Nothing of the write was stored."""

    def __init__(self, field: str, value: Any, message: str, *, row: int | None = None):
        self.field, self.value, self.row = field, value, row
        where = "" if row is None else f"row {row}: "
        super().__init__(f"{where}{field}={value!r}: {message}; nothing was written")


class SchemaError(RuntimeError):
    """The file's schema is newer than this labsutil knows, or is not a feedback store."""


@dataclass(frozen=True)
class ModelVersion:
    id: str
    parent_id: str | None
    base_model: str
    adapter_path: str | None
    train_data_hash: str | None
    status: str
    metrics: dict = field(compare=False)
    created: str = field(compare=False)


@dataclass(frozen=True)
class Interaction:
    id: int
    model_version: str
    question_id: str
    prompt: str
    system: str | None
    retrieved_doc_ids: list
    response: str
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None
    round: int | None
    created: str = field(compare=False)


@dataclass(frozen=True)
class Feedback:
    id: int
    interaction_id: int
    other_interaction_id: int | None
    kind: str
    value: Any  # "up"/"down", one of PAIRWISE, the edited text, or an int rating
    reason: str | None
    source: str
    annotator: str
    round: int | None
    created: str = field(compare=False)


@dataclass(frozen=True)
class FeedbackRecord:
    """A feedback row with the interaction(s) it judges: what the conversion rules read."""

    feedback: Feedback
    interaction: Interaction
    other: Interaction | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    action: str
    model_version: str | None
    previous_champion: str | None
    reasons: list
    numbers: dict
    created: str = field(compare=False)


def _connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; every write below opens its own BEGIN IMMEDIATE.
    # timeout= is SQLite's busy timeout: a writer finding the lock taken retries for that long before failing.
    # check_same_thread=False: widget handlers may run on a kernel subshell thread (ipykernel 7 with JupyterLab's
    # comms over subshells); the Store serialises its own use of the connection with a lock.
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise SchemaError(f"{path}: could not switch the journal to WAL (got {mode!r}); is it on a network drive?")
    return conn


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing migrations up to `target`, each in one transaction; returns the versions applied.

    The version is re-read inside each transaction, so two processes opening a new store at once do not
    both apply the same migration.
    """
    if _schema_version(conn) > SCHEMA_VERSION:
        raise SchemaError(f"the store has schema version {_schema_version(conn)}, newer than this labsutil's "
                          f"{SCHEMA_VERSION}: update labsutil, or open a copy with the matching version")
    applied = []
    for version in range(1, target + 1):
        if _schema_version(conn) >= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _schema_version(conn) < version:
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
                applied.append(version)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return applied


def _check_text(name: str, value, *, row: int | None, allow_none: bool = False, nonempty: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str) or (nonempty and not value.strip()):
        raise FeedbackError(name, value, "must be a non-empty string" if nonempty else "must be a string", row=row)


def _check_count(name: str, value, *, row: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise FeedbackError(name, value, "must be a non-negative integer or None", row=row)


def check_feedback_value(kind: str, value, *, row: int | None = None):
    """The stored form of a feedback value, or FeedbackError. `kind` must already be valid."""
    if kind == "thumbs":
        if value not in THUMBS:
            raise FeedbackError("value", value, f"a thumbs value is one of {', '.join(THUMBS)}", row=row)
        return value
    if kind == "pairwise":
        if value not in PAIRWISE:
            raise FeedbackError("value", value, f"a pairwise value is one of {', '.join(PAIRWISE)} "
                                "('a' = the interaction, 'b' = other_interaction_id)", row=row)
        return value
    if kind == "rating":
        low, high = RATING_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FeedbackError("value", value, f"a rating is an integer from {low} to {high}", row=row)
        return str(value)
    _check_text("value", value, row=row)  # an edit: the corrected answer
    return value


class Store:
    """A feedback store in one SQLite file (created, and migrated to the current schema, on open)."""

    def __init__(self, path: str | Path, *, timeout_s: float = BUSY_TIMEOUT_S, migrate_to: int = SCHEMA_VERSION):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path, timeout_s)
        self._lock = threading.RLock()  # one thread at a time uses the connection, a transaction included
        self._in_transaction = False
        self.migrations_applied = migrate(self._conn, migrate_to)

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return _schema_version(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error).

        The store's write methods each run in their own; inside this block they join it, so several
        writes commit together or not at all.
        """
        with self._lock:  # another thread's write waits here instead of joining this transaction
            if self._in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # the block failed, or COMMIT itself did
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False

    def _read(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def copy_to(self, path: str | Path) -> "Store":
        """A consistent copy of the whole store (SQLite's online backup: safe while others write), opened."""
        path = Path(path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        target = sqlite3.connect(path)
        try:
            with self._lock:
                self._conn.backup(target)
        finally:
            target.close()
        return Store(path)

    def integrity_check(self) -> str:
        return self._read("PRAGMA integrity_check")[0][0]

    def query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        """Run a read-only SQL statement (for the lab's own SQL exercises); a write is refused by SQLite."""
        with self._lock:
            self._conn.execute("PRAGMA query_only = ON")
            try:
                return self._read(sql, params)
            finally:
                self._conn.execute("PRAGMA query_only = OFF")

    # ------------------------------------------------------------------ model versions
    def add_model_version(self, version_id: str, *, base_model: str, status: str = "challenger",
                          parent_id: str | None = None, adapter_path: str | Path | None = None,
                          train_data_hash: str | None = None, metrics: Mapping | None = None) -> ModelVersion:
        _check_text("id", version_id, row=None)
        _check_text("base_model", base_model, row=None)
        if status not in STATUSES:
            raise FeedbackError("status", status, f"a model status is one of {', '.join(STATUSES)}")
        with self.transaction() as conn:
            if self.model_version(version_id) is not None:
                raise FeedbackError("id", version_id, "a model version with this id exists already")
            if parent_id is not None and self.model_version(parent_id) is None:
                raise FeedbackError("parent_id", parent_id, "no such model version")
            if status == "champion" and self.champion() is not None:
                raise FeedbackError("status", status, f"{self.champion().id} is the champion already; "
                                    "register as a challenger and promote it through the gate")
            conn.execute("INSERT INTO model_versions (id, parent_id, base_model, adapter_path, train_data_hash, "
                         "status, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (version_id, parent_id, base_model, None if adapter_path is None else str(adapter_path),
                          train_data_hash, status, json.dumps(dict(metrics or {}))))
        return self.model_version(version_id)

    def model_version(self, version_id: str) -> ModelVersion | None:
        rows = self._read("SELECT * FROM model_versions WHERE id = ?", (version_id,))
        return _model_version(rows[0]) if rows else None

    def model_versions(self) -> list[ModelVersion]:
        return [_model_version(r) for r in self._read("SELECT * FROM model_versions ORDER BY rowid")]

    def champion(self) -> ModelVersion | None:
        rows = self._read("SELECT * FROM model_versions WHERE status = 'champion'")
        return _model_version(rows[0]) if rows else None

    def set_status(self, version_id: str, status: str, *, metrics: Mapping | None = None) -> None:
        """Change one version's status (and merge metrics into its own). Used by the registry's decisions."""
        if status not in STATUSES:
            raise FeedbackError("status", status, f"a model status is one of {', '.join(STATUSES)}")
        with self.transaction() as conn:
            current = self.model_version(version_id)
            if current is None:
                raise FeedbackError("model_version", version_id, "no such model version")
            merged = {**current.metrics, **dict(metrics or {})}
            conn.execute("UPDATE model_versions SET status = ?, metrics = ? WHERE id = ?",
                         (status, json.dumps(merged), version_id))

    def add_audit(self, action: str, model_version: str | None, *, previous_champion: str | None = None,
                  reasons: Sequence[str] = (), numbers: Mapping | None = None) -> int:
        if action not in AUDIT_ACTIONS:
            raise FeedbackError("action", action, f"an audit action is one of {', '.join(AUDIT_ACTIONS)}")
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO audit_log (action, model_version, previous_champion, reasons, numbers) "
                               "VALUES (?, ?, ?, ?, ?)", (action, model_version, previous_champion,
                                                          json.dumps(list(reasons)), json.dumps(dict(numbers or {}))))
            return int(cur.lastrowid)

    def audit_log(self, action: str | None = None) -> list[AuditEntry]:
        sql, params = "SELECT * FROM audit_log", ()
        if action is not None:
            sql, params = sql + " WHERE action = ?", (action,)
        return [AuditEntry(r["id"], r["action"], r["model_version"], r["previous_champion"],
                           json.loads(r["reasons"]), json.loads(r["numbers"]), r["created"])
                for r in self._read(sql + " ORDER BY id", params)]

    # ------------------------------------------------------------------ interactions
    def log_interaction(self, model_version: str, question_id: str, prompt: str, response: str, *,
                        system: str | None = None, retrieved_doc_ids: Sequence[str] = (),
                        tokens_in: int | None = None, tokens_out: int | None = None,
                        latency_s: float | None = None, round: int | None = None) -> int:
        """Record one served answer; returns its id (what feedback refers to)."""
        return self.log_interactions([dict(model_version=model_version, question_id=question_id, prompt=prompt,
                                           response=response, system=system, retrieved_doc_ids=retrieved_doc_ids,
                                           tokens_in=tokens_in, tokens_out=tokens_out, latency_s=latency_s,
                                           round=round)])[0]

    def log_interactions(self, rows: Iterable[Mapping]) -> list[int]:
        """Record many served answers in one transaction (all or none); returns their ids in order."""
        rows = [dict(r) for r in rows]
        with self.transaction() as conn:
            prepared = [self._prepare_interaction(r, i if len(rows) > 1 else None) for i, r in enumerate(rows)]
            return [int(conn.execute("INSERT INTO interactions (model_version, question_id, prompt, system, "
                                     "retrieved_doc_ids, response, tokens_in, tokens_out, latency_s, round) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", p).lastrowid) for p in prepared]

    def log_generations(self, model_version: str, questions: Sequence, prompts: Sequence[str],
                        generations: Sequence, *, system: str | None = None,
                        retrieved: Sequence[Sequence[str]] | None = None, round: int | None = None) -> list[int]:
        """Record a batch answered by `llm.generate` (Generation objects) for data-contract questions."""
        if not len(questions) == len(prompts) == len(generations):
            raise FeedbackError("generations", len(generations),
                                f"expected one prompt and one generation per question ({len(questions)})")
        retrieved = retrieved if retrieved is not None else [()] * len(questions)
        return self.log_interactions(
            dict(model_version=model_version, question_id=q.qid, prompt=p, response=g.text, system=system,
                 retrieved_doc_ids=list(r), tokens_in=g.tokens_in, tokens_out=g.tokens_out,
                 latency_s=g.latency_s, round=round)
            for q, p, g, r in zip(questions, prompts, generations, retrieved))

    def _prepare_interaction(self, r: dict, row: int | None) -> tuple:
        unknown = set(r) - {"model_version", "question_id", "prompt", "response", "system", "retrieved_doc_ids",
                            "tokens_in", "tokens_out", "latency_s", "round"}
        if unknown:
            raise FeedbackError("fields", sorted(unknown), "not columns of an interaction", row=row)
        version = r.get("model_version")
        if not isinstance(version, str) or self.model_version(version) is None:
            raise FeedbackError("model_version", version, "no such model version; register it first", row=row)
        _check_text("question_id", r.get("question_id"), row=row)
        _check_text("prompt", r.get("prompt"), row=row)
        _check_text("response", r.get("response"), row=row, nonempty=False)
        _check_text("system", r.get("system"), row=row, allow_none=True, nonempty=False)
        docs = r.get("retrieved_doc_ids") or []
        if isinstance(docs, str) or not all(isinstance(d, str) for d in docs):
            raise FeedbackError("retrieved_doc_ids", docs, "must be a list of document ids (strings)", row=row)
        for name in ("tokens_in", "tokens_out"):
            _check_count(name, r.get(name), row=row)
        latency = r.get("latency_s")
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))
                                    or not latency >= 0):
            raise FeedbackError("latency_s", latency, "must be a non-negative number of seconds or None", row=row)
        _check_count("round", r.get("round"), row=row)
        return (version, r["question_id"], r["prompt"], r.get("system"), json.dumps(list(docs)), r["response"],
                r.get("tokens_in"), r.get("tokens_out"), latency, r.get("round"))

    def interaction(self, interaction_id: int) -> Interaction | None:
        rows = self._read("SELECT * FROM interactions WHERE id = ?", (interaction_id,))
        return _interaction(rows[0]) if rows else None

    def interactions(self, *, round: int | None = None, model_version: str | None = None) -> list[Interaction]:
        sql, params = _where("SELECT * FROM interactions", round=round, model_version=model_version)
        return [_interaction(r) for r in self._read(sql + " ORDER BY id", params)]

    def question_ids_with_feedback(self) -> set[str]:
        """Questions whose answers received any feedback (a frozen held-out set must avoid them all)."""
        rows = self._read(
            "SELECT DISTINCT i.question_id FROM feedback f JOIN interactions i "
            "ON i.id = f.interaction_id OR i.id = f.other_interaction_id")
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ feedback
    def add_feedback(self, interaction_id: int, kind: str, value, *, other_interaction_id: int | None = None,
                     reason: str | None = None, source: str = "human", annotator: str = "human",
                     round: int | None = None) -> int:
        """Validate and store one feedback row; returns its id. See `check_feedback` for the rules."""
        return self.add_feedback_many([dict(interaction_id=interaction_id, kind=kind, value=value,
                                            other_interaction_id=other_interaction_id, reason=reason,
                                            source=source, annotator=annotator, round=round)])[0]

    def add_feedback_many(self, rows: Iterable[Mapping]) -> list[int]:
        """Store many feedback rows in one transaction: every row is validated first; one bad row, none stored."""
        rows = [dict(r) for r in rows]
        with self.transaction() as conn:
            prepared = [self.check_feedback(r, row=i if len(rows) > 1 else None) for i, r in enumerate(rows)]
            return [int(conn.execute("INSERT INTO feedback (interaction_id, other_interaction_id, kind, value, "
                                     "reason, source, annotator, round) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                     p).lastrowid) for p in prepared]

    def check_feedback(self, r: Mapping, *, row: int | None = None) -> tuple:
        """The row as stored, or FeedbackError naming the first bad field.

        Rules: `kind` is one of KINDS; `interaction_id` exists; a pairwise row names a different
        `other_interaction_id` that answers the same question (and only a pairwise row names one);
        thumbs are "up"/"down", a pairwise value one of PAIRWISE, a rating an integer within RATING_RANGE,
        an edit a non-empty corrected answer; `source` is one of SOURCES; `annotator` is named;
        `reason` is text or None. The round defaults to the interaction's round.
        """
        unknown = set(r) - {"interaction_id", "kind", "value", "other_interaction_id", "reason", "source",
                            "annotator", "round"}
        if unknown:
            raise FeedbackError("fields", sorted(unknown), "not columns of a feedback row", row=row)
        kind = r.get("kind")
        if kind not in KINDS:
            raise FeedbackError("kind", kind, f"a feedback kind is one of {', '.join(KINDS)}", row=row)
        first = self._existing_interaction("interaction_id", r.get("interaction_id"), row)
        other_id = r.get("other_interaction_id")
        if kind == "pairwise":
            other = self._existing_interaction("other_interaction_id", other_id, row)
            if other.id == first.id:
                raise FeedbackError("other_interaction_id", other_id, "a pair compares two different answers",
                                    row=row)
            if other.question_id != first.question_id:
                raise FeedbackError("other_interaction_id", other_id,
                                    f"answers question {other.question_id!r}, the interaction answers "
                                    f"{first.question_id!r}: a pair compares answers to the same question", row=row)
        elif other_id is not None:
            raise FeedbackError("other_interaction_id", other_id, f"only a pairwise row names a second "
                                f"interaction (this row's kind is {kind!r})", row=row)
        value = check_feedback_value(kind, r.get("value"), row=row)
        source = r.get("source", "human")
        if source not in SOURCES:
            raise FeedbackError("source", source, f"a feedback source is one of {', '.join(SOURCES)}", row=row)
        _check_text("annotator", r.get("annotator", "human"), row=row)
        _check_text("reason", r.get("reason"), row=row, allow_none=True, nonempty=False)
        round_ = r.get("round")
        _check_count("round", round_, row=row)
        return (first.id, other_id, kind, value, r.get("reason"), source, r.get("annotator", "human"),
                first.round if round_ is None else round_)

    def _existing_interaction(self, name: str, interaction_id, row: int | None) -> Interaction:
        if isinstance(interaction_id, bool) or not isinstance(interaction_id, int):
            raise FeedbackError(name, interaction_id, "must be an interaction id (an integer)", row=row)
        found = self.interaction(interaction_id)
        if found is None:
            raise FeedbackError(name, interaction_id, "no such interaction; log the answer before its feedback",
                                row=row)
        return found

    def feedback(self, *, round: int | None = None, kind: str | None = None,
                 source: str | None = None) -> list[Feedback]:
        sql, params = _where("SELECT * FROM feedback", round=round, kind=kind, source=source)
        return [_feedback(r) for r in self._read(sql + " ORDER BY id", params)]

    def records(self, *, round: int | None = None, source: str | None = None) -> list[FeedbackRecord]:
        """Feedback rows with their interactions, in the order they were stored."""
        rows = self.feedback(round=round, source=source)
        ids = {f.interaction_id for f in rows} | {f.other_interaction_id for f in rows if f.other_interaction_id}
        cache = {i: self.interaction(i) for i in ids}
        return [FeedbackRecord(f, cache[f.interaction_id],
                               cache[f.other_interaction_id] if f.other_interaction_id else None) for f in rows]

    def counts(self, *, round: int | None = None, source: str | None = None) -> dict[str, int]:
        """Feedback rows per kind (every kind present, zeros included) and their total."""
        sql, params = _where("SELECT kind, COUNT(*) FROM feedback", round=round, source=source)
        found = {kind: n for kind, n in self._read(sql + " GROUP BY kind", params)}
        counts = {kind: int(found.get(kind, 0)) for kind in KINDS}
        counts["total"] = sum(counts.values())
        return counts

    def counts_by_value(self, *, round: int | None = None, source: str | None = None) -> dict[str, dict[str, int]]:
        """Rows per kind and value (edits are counted as one value, "edit")."""
        sql, params = _where("SELECT kind, CASE kind WHEN 'edit' THEN 'edit' ELSE value END AS v, COUNT(*) "
                             "FROM feedback", round=round, source=source)
        table: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        for kind, value, n in self._read(sql + " GROUP BY kind, v", params):
            table[kind][value] = int(n)
        return table

    # ------------------------------------------------------------------ exports
    def export(self, *, round: int | None = None, source: str | None = None,
               gold: Mapping[str, str] | None = None, unpair_preferences: bool = False):
        """The stored feedback as TRL datasets (`Exports`: sft, dpo, kto as datasets.Dataset, and the report).

        `gold` maps question ids to gold answers (for "both wrong" verdicts without an edit).
        """
        from . import convert

        conversion = convert.convert(self.records(round=round, source=source), gold=gold,
                                     unpair_preferences=unpair_preferences)
        return conversion.datasets()


def _where(select: str, **filters) -> tuple[str, tuple]:
    used = [(k, v) for k, v in filters.items() if v is not None]
    if not used:
        return select, ()
    return select + " WHERE " + " AND ".join(f"{k} = ?" for k, _ in used), tuple(v for _, v in used)


def _model_version(r: sqlite3.Row) -> ModelVersion:
    return ModelVersion(r["id"], r["parent_id"], r["base_model"], r["adapter_path"], r["train_data_hash"],
                        r["status"], json.loads(r["metrics"]), r["created"])


def _interaction(r: sqlite3.Row) -> Interaction:
    return Interaction(r["id"], r["model_version"], r["question_id"], r["prompt"], r["system"],
                       json.loads(r["retrieved_doc_ids"]), r["response"], r["tokens_in"], r["tokens_out"],
                       r["latency_s"], r["round"], r["created"])


def _feedback(r: sqlite3.Row) -> Feedback:
    value = int(r["value"]) if r["kind"] == "rating" else r["value"]
    return Feedback(r["id"], r["interaction_id"], r["other_interaction_id"], r["kind"], value, r["reason"],
                    r["source"], r["annotator"], r["round"], r["created"])
