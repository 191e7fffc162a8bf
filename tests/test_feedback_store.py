"""The feedback store: concurrent writers and a writer killed mid-transaction, refused records, migrations,
and exports that TRL's trainers accept."""
from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsutil.feedback.store import SCHEMA_VERSION, FeedbackError, SchemaError, Store

REPO = Path(__file__).resolve().parent.parent

# One worker process: "writer" commits N feedback rows, one transaction each, and prints their ids;
# "victim" commits a few rows, waits until the writers are under way, then opens a transaction, writes
# part of a batch, says READY and sleeps inside the transaction (holding the write lock, so the writers wait
# in their busy timeout) until it is killed.
WORKER = r"""
import json, sys, time
from pathlib import Path
from labsutil.feedback.store import Store

role, path, tag, n, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
store = Store(path)
while not go.exists():
    time.sleep(0.005)
if role == "writer":
    ids = []
    for i in range(n):
        ids.append(store.add_feedback(1, "thumbs", "up" if i % 2 else "down", reason=f"{tag}-{i}",
                                      source="simulated", annotator=tag))
        time.sleep(0.002)  # paced like a real client: SQLite's lock is not fair, a tight loop starves the others
    print(json.dumps(ids), flush=True)
else:
    committed = [store.add_feedback(1, "thumbs", "up", reason=f"{tag}-committed-{i}", source="simulated",
                                    annotator=tag) for i in range(n)]
    print(json.dumps(committed), flush=True)
    while store.query("SELECT COUNT(*) FROM feedback WHERE annotator LIKE 'w%'")[0][0] < 200:
        time.sleep(0.002)
    with store.transaction():
        for i in range(50):
            store.add_feedback(1, "edit", f"partial answer {i}", reason=f"{tag}-partial-{i}", source="simulated",
                               annotator=tag)
        print("READY", flush=True)
        time.sleep(120)
"""


def _new_store(path: Path) -> Store:
    store = Store(path)
    store.add_model_version("v0", base_model="tiny", status="champion")
    store.log_interaction("v0", "q1", "Where is Acme Corp headquartered?", "Lisbon [d1]", round=1)
    return store


def _readline(proc: subprocess.Popen, timeout_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        raise AssertionError(f"worker {proc.args[3]} said nothing within {timeout_s} s")
    return proc.stdout.readline().strip()


def test_concurrent_writers_and_a_writer_killed_mid_transaction(tmp_path):
    path, go = tmp_path / "feedback.sqlite", tmp_path / "go"
    _new_store(path).close()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    spawn = lambda role, tag, n: subprocess.Popen(  # noqa: E731
        [sys.executable, "-c", WORKER, role, str(path), tag, str(n), str(go)], stdout=subprocess.PIPE, text=True,
        env=env)
    procs = [spawn("writer", "w1", 1000), spawn("writer", "w2", 1000), spawn("victim", "victim", 20)]
    try:
        go.touch()
        victim = procs[2]
        victim_committed = json.loads(_readline(victim, 60))
        assert _readline(victim, 60) == "READY"
        with Store(path) as reader:  # a reader is not blocked by the open write transaction (WAL)
            under_way = reader.query("SELECT COUNT(*) FROM feedback WHERE annotator LIKE 'w%'")[0][0]
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        assert 200 <= under_way < 2000, "the victim was killed while the writers were still writing"
        writer_ids = {}
        for proc, tag in zip(procs[:2], ("w1", "w2")):
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            writer_ids[tag] = json.loads(out.strip().splitlines()[-1])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    with Store(path) as store:
        assert store.integrity_check() == "ok"
        assert store.query("PRAGMA foreign_key_check") == []
        for tag, ids in writer_ids.items():
            rows = store.query("SELECT id, reason FROM feedback WHERE annotator = ? ORDER BY id", (tag,))
            assert [r["id"] for r in rows] == sorted(ids) and len(ids) == 1000
            assert sorted(r["reason"] for r in rows) == sorted(f"{tag}-{i}" for i in range(1000))
        committed = store.query("SELECT id FROM feedback WHERE reason LIKE 'victim-committed-%'")
        assert sorted(r["id"] for r in committed) == sorted(victim_committed)
        assert store.query("SELECT COUNT(*) FROM feedback WHERE reason LIKE 'victim-partial-%'")[0][0] == 0
        assert store.counts()["total"] == 2000 + len(victim_committed)
        incomplete = store.query("SELECT COUNT(*) FROM feedback WHERE kind IS NULL OR value IS NULL OR source IS NULL "
                                 "OR annotator IS NULL OR created IS NULL OR round IS NOT 1")
        assert incomplete[0][0] == 0
        store.add_feedback(1, "thumbs", "up")  # and the store still takes writes


@pytest.fixture
def store(tmp_path):
    with _new_store(tmp_path / "feedback.sqlite") as store:
        store.add_model_version("v1", base_model="tiny", parent_id="v0")
        store.log_interaction("v1", "q1", "Where is Acme Corp headquartered?", "Porto", round=1)
        store.log_interaction("v1", "q2", "When was Beta Ltd founded?", "1999", round=1)
        yield store


@pytest.mark.parametrize("row, field", [
    (dict(interaction_id=1, kind="smile", value="up"), "kind"),
    (dict(interaction_id=99, kind="thumbs", value="up"), "interaction_id"),
    (dict(interaction_id="1", kind="thumbs", value="up"), "interaction_id"),
    (dict(interaction_id=1, kind="rating", value=6), "value"),
    (dict(interaction_id=1, kind="rating", value=0), "value"),
    (dict(interaction_id=1, kind="rating", value=4.5), "value"),
    (dict(interaction_id=1, kind="rating", value=True), "value"),
    (dict(interaction_id=1, kind="thumbs", value="yes"), "value"),
    (dict(interaction_id=1, kind="edit", value="   "), "value"),
    (dict(interaction_id=1, kind="pairwise", value="a"), "other_interaction_id"),
    (dict(interaction_id=1, kind="pairwise", value="a", other_interaction_id=99), "other_interaction_id"),
    (dict(interaction_id=1, kind="pairwise", value="a", other_interaction_id=1), "other_interaction_id"),
    (dict(interaction_id=1, kind="pairwise", value="a", other_interaction_id=3), "other_interaction_id"),
    (dict(interaction_id=1, kind="pairwise", value="better", other_interaction_id=2), "value"),
    (dict(interaction_id=1, kind="thumbs", value="up", other_interaction_id=2), "other_interaction_id"),
    (dict(interaction_id=1, kind="thumbs", value="up", source="crowd"), "source"),
    (dict(interaction_id=1, kind="thumbs", value="up", annotator=""), "annotator"),
    (dict(interaction_id=1, kind="thumbs", value="up", round=-1), "round"),
    (dict(interaction_id=1, kind="thumbs", value="up", mood="happy"), "fields"),
])
def test_malformed_feedback_is_refused_and_nothing_written(store, row, field):
    with pytest.raises(FeedbackError) as refused:
        store.add_feedback_many([dict(interaction_id=1, kind="thumbs", value="up"), row])  # a good row first
    assert refused.value.field == field and refused.value.row == 1
    assert f"{field}=" in str(refused.value) and "nothing was written" in str(refused.value)
    assert store.counts()["total"] == 0


def test_malformed_interactions_and_versions_are_refused(store):
    with pytest.raises(FeedbackError, match="model_version='v9'"):
        store.log_interaction("v9", "q1", "p", "r")
    with pytest.raises(FeedbackError, match="tokens_out=-1"):
        store.log_interaction("v0", "q1", "p", "r", tokens_out=-1)
    with pytest.raises(FeedbackError, match="retrieved_doc_ids='d1'"):
        store.log_interaction("v0", "q1", "p", "r", retrieved_doc_ids="d1")
    with pytest.raises(FeedbackError, match="champion already"):
        store.add_model_version("v2", base_model="tiny", status="champion")
    with pytest.raises(FeedbackError, match="parent_id='nope'"):
        store.add_model_version("v2", base_model="tiny", parent_id="nope")
    assert len(store.interactions()) == 3 and len(store.model_versions()) == 2


def test_the_database_refuses_what_python_validation_would(store):
    """CHECK constraints and foreign keys stand behind the Python checks (e.g. a script writing SQL)."""
    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO feedback (interaction_id, kind, value, source, annotator) "
                     "VALUES (1, 'smile', 'up', 'human', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO feedback (interaction_id, kind, value, source, annotator) "
                     "VALUES (99, 'thumbs', 'up', 'human', 'x')")
    with pytest.raises(sqlite3.IntegrityError):  # a pairwise row without its second interaction
        conn.execute("INSERT INTO feedback (interaction_id, kind, value, source, annotator) "
                     "VALUES (1, 'pairwise', 'a', 'human', 'x')")
    conn.close()


def test_migration_from_an_older_schema_keeps_every_row(tmp_path):
    path = tmp_path / "old.sqlite"
    with Store(path, migrate_to=1) as old:  # a store written by the first schema: no rounds
        assert old.schema_version == 1
        old._conn.execute("INSERT INTO model_versions (id, base_model, status) VALUES ('v0', 'tiny', 'champion')")
        old._conn.execute("INSERT INTO interactions (model_version, question_id, prompt, response) "
                          "VALUES ('v0', 'q1', 'Where?', 'Lisbon')")
        old._conn.execute("INSERT INTO feedback (interaction_id, kind, value, source, annotator) "
                          "VALUES (1, 'thumbs', 'up', 'human', 'ana')")
    with Store(path) as store:
        assert store.migrations_applied == list(range(2, SCHEMA_VERSION + 1))
        assert store.schema_version == SCHEMA_VERSION
        [fb] = store.feedback()
        assert (fb.kind, fb.value, fb.annotator, fb.round) == ("thumbs", "up", "ana", None)
        assert store.interaction(1).response == "Lisbon"
        store.add_feedback(store.log_interaction("v0", "q1", "Where?", "Porto", round=2), "thumbs", "down")
        assert store.counts(round=2)["thumbs"] == 1 and store.integrity_check() == "ok"
    with Store(path) as again:
        assert again.migrations_applied == []
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}").connection.close()
    with pytest.raises(SchemaError, match="newer than this labsutil"):
        Store(path)


def test_failed_migration_rolls_back_whole(tmp_path, monkeypatch):
    from labsutil.feedback import store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS + [
        ["ALTER TABLE feedback ADD COLUMN weight REAL", "THIS IS NOT SQL"]])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(store_module.MIGRATIONS))
    path = tmp_path / "f.sqlite"
    with pytest.raises(sqlite3.OperationalError):
        store_module.Store(path, migrate_to=store_module.SCHEMA_VERSION)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # the good ones stayed
    assert "weight" not in [r[1] for r in conn.execute("PRAGMA table_info(feedback)")]  # the bad one left nothing
    conn.close()


def test_counts_and_round_defaults(store):
    store.add_feedback(1, "thumbs", "up")
    store.add_feedback(2, "rating", 4, source="ai-judge", annotator="judge")
    store.add_feedback(1, "pairwise", "tie", other_interaction_id=2, round=7)
    assert store.counts() == {"thumbs": 1, "pairwise": 1, "edit": 0, "rating": 1, "total": 3}
    assert store.counts(round=1)["total"] == 2 and store.counts(round=7)["pairwise"] == 1
    assert store.counts(source="ai-judge")["total"] == 1
    assert store.counts_by_value()["rating"] == {"4": 1} and store.feedback(kind="rating")[0].value == 4


def test_exports_have_trl_columns(store):
    store.add_feedback_many([
        dict(interaction_id=1, kind="pairwise", value="a", other_interaction_id=2),
        dict(interaction_id=1, kind="thumbs", value="up"),
        dict(interaction_id=2, kind="thumbs", value="down"),
        dict(interaction_id=2, kind="edit", value="Lisbon, Portugal [d1]"),
    ])
    exports = store.export()
    assert exports.sft.column_names == ["messages"] and len(exports.sft) == 2
    assert exports.dpo.column_names == ["prompt", "chosen", "rejected"] and len(exports.dpo) == 2
    assert exports.kto.column_names == ["prompt", "completion", "label"] and len(exports.kto) == 2
    assert exports.dpo[0]["chosen"] == [{"role": "assistant", "content": "Lisbon [d1]"}]
    assert exports.dpo[1]["rejected"] == [{"role": "assistant", "content": "Porto"}]
    assert sorted(exports.kto["label"]) == [False, True]
    empty = Store(store.path.with_name("empty.sqlite")).export()
    assert empty.dpo.column_names == ["prompt", "chosen", "rejected"] and len(empty.dpo) == 0


def test_trl_trainers_accept_the_exports(store, tiny_model_dir, tmp_path):
    """DPOTrainer and KTOTrainer tokenize the exported datasets (their own column checks run) on a tiny model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    store.add_feedback_many([
        dict(interaction_id=1, kind="pairwise", value="b", other_interaction_id=2),
        dict(interaction_id=1, kind="thumbs", value="down"),
        dict(interaction_id=2, kind="thumbs", value="up"),
        dict(interaction_id=3, kind="thumbs", value="up"),
        dict(interaction_id=1, kind="edit", value="Lisbon"),
    ])
    exports = store.export()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for dataset in (exports.sft, exports.dpo, exports.kto):
        assert is_conversational(dataset[0])
        maybe_apply_chat_template(dataset[0], tokenizer)  # raises KeyError on columns TRL does not know
    common = dict(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, report_to=[],
                  bf16=False, use_cpu=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    dpo = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=exports.dpo, processing_class=tokenizer)
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(dpo.train_dataset.column_names)
    kto = KTOTrainer(model=model, args=KTOConfig(**common), train_dataset=exports.kto, processing_class=tokenizer)
    assert "label" in kto.train_dataset.column_names


def test_query_is_read_only(store):
    assert store.query("SELECT COUNT(*) FROM interactions")[0][0] == 3
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.query("DELETE FROM interactions")
    store.add_feedback(1, "thumbs", "up")  # writes through the store still work afterwards
    assert store.counts()["total"] == 1


def test_a_failed_block_rolls_back_every_write_in_it(store):
    with pytest.raises(RuntimeError, match="interrupted"):
        with store.transaction():
            store.add_feedback(1, "thumbs", "up")
            store.log_interaction("v0", "q9", "p", "r")
            raise RuntimeError("interrupted")
    assert store.counts()["total"] == 0 and len(store.interactions()) == 3
    with store.transaction():
        store.add_feedback(1, "thumbs", "up")
        store.add_feedback(2, "thumbs", "down")
    assert store.counts()["thumbs"] == 2


def test_threads_share_a_store_without_joining_each_others_transactions(store):
    """Widget handlers can run on a kernel subshell thread: a write from another thread waits for an open
    transaction to end instead of joining it, so a rollback there takes nothing of the other thread's."""
    import threading

    started, release = threading.Event(), threading.Event()

    def abandoned_transaction():
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.add_feedback(1, "thumbs", "up", annotator="abandoned")
                started.set()
                release.wait(10)
                raise RuntimeError("abandoned")

    first = threading.Thread(target=abandoned_transaction)
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: store.add_feedback(2, "thumbs", "down", annotator="other thread"))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first thread's transaction
    release.set()
    first.join(10)
    second.join(10)
    assert [f.annotator for f in store.feedback()] == ["other thread"]
