"""Assertions on lab 01's ledger rows (smoke profile, course dataset)."""
from labchecks import assert_accuracies_have_intervals
from labsutil.prompting import techniques

# the course dataset has data for all three tasks
EXPECTED_TASKS = {"classify", "extract", "qa"}
UNIT_METRICS = ("accuracy", "parse_rate", "json_rate", "field_f1", "field_precision", "field_recall")


def _expected_variants(task: str, params: dict) -> set[str]:
    shots = techniques.parse_shots(params["extract_shots"] if task == "extract" else params["shots"])
    names = {"zero_shot", "role_prompt"}
    names |= {f"few_shot_{sel}_k{k}" for sel in ("random", "similar") for k in shots}
    if task == "extract":
        names.add("json_retry")
        if params["constrained"] and params["backend"] == "transformers":
            names.add("json_constrained")
    else:
        names |= {"cot", "self_consistency"}
    return {f"{task}/{n}" for n in names}


def check(rows, run_dir):
    assert_accuracies_have_intervals(rows)
    confirm = {r["variant"]: r for r in rows if r["variant"].startswith(techniques.CONFIRM_PREFIX)}
    rows = [r for r in rows if r["variant"] not in confirm]
    _check_confirmation(confirm, rows, run_dir)
    by_variant = {r["variant"]: r for r in rows}
    tasks = {r["params"]["task"] for r in rows}
    assert tasks == EXPECTED_TASKS, f"tasks with rows: {sorted(tasks)}"

    # a ledger row for every technique and task
    params = rows[0]["params"]
    expected = set().union(*(_expected_variants(t, params) for t in EXPECTED_TASKS))
    missing = expected - set(by_variant)
    assert not missing, f"no ledger row for {sorted(missing)}"

    # metrics within their ranges, cost block filled
    for r in rows:
        for name, value in r["metrics"].items():
            if name in UNIT_METRICS:
                assert value is not None and 0.0 <= value <= 1.0, (r["variant"], name, value)
        assert techniques.QUALITY[r["params"]["task"]] in r["metrics"], r["variant"]
        cost = r["cost"]
        assert cost["tokens_in"] > 0 and cost["tokens_out"] > 0, (r["variant"], cost)
        assert 0 < cost["latency_p50_s"] <= cost["latency_p95_s"], (r["variant"], cost)
        assert r["params"]["n_items"] >= 1

    # the same examples for every technique of a task
    for task in EXPECTED_TASKS:
        sizes = {r["params"]["n_items"] for r in rows if r["params"]["task"] == task}
        assert len(sizes) == 1, (task, sizes)

    # few-shot rows read more input tokens than zero-shot, and more with more examples
    for task in EXPECTED_TASKS:
        zero = by_variant[f"{task}/zero_shot"]["cost"]["tokens_in"]
        for variant, r in by_variant.items():
            if variant.startswith(f"{task}/few_shot_"):
                assert r["cost"]["tokens_in"] > zero, (variant, r["cost"]["tokens_in"], zero)
        for sel in ("random", "similar"):
            ks = sorted(r["params"]["k"] for v, r in by_variant.items() if v.startswith(f"{task}/few_shot_{sel}_"))
            used = [by_variant[f"{task}/few_shot_{sel}_k{k}"]["cost"]["tokens_in"] for k in ks]
            assert used == sorted(used), (task, sel, ks, used)

    # self-consistency samples several answers: more output tokens than one chain of thought
    for task in ("classify", "qa"):
        assert (by_variant[f"{task}/self_consistency"]["cost"]["tokens_out"]
                > by_variant[f"{task}/cot"]["cost"]["tokens_out"])

    # constrained (or, without it, validated) JSON parses at least 95% of the time
    guaranteed = by_variant.get("extract/json_constrained") or by_variant["extract/json_retry"]
    assert guaranteed["metrics"]["parse_rate"] >= 0.95, guaranteed["metrics"]

    assert (run_dir / "plots" / "01_quality_vs_tokens.png").is_file()


def _check_confirmation(confirm, rows, run_dir):
    """The headline claims re-measured on fresh clauses: zero-shot, best random, best similar, paired answers."""
    from labsutil import ledger

    n = rows[0]["params"]["confirm_n"]
    if not n:
        assert not confirm, sorted(confirm)
        return
    assert {"confirm/classify/zero_shot"} < set(confirm), sorted(confirm)
    assert any(v.startswith("confirm/classify/few_shot_similar_k") for v in confirm), sorted(confirm)
    main_ids = {a["qid"] for a in ledger.read_answers(run_dir, "01", "classify/zero_shot")}
    fresh = [a["qid"] for a in ledger.read_answers(run_dir, "01", "confirm/classify/zero_shot")]
    assert len(fresh) == confirm["confirm/classify/zero_shot"]["metrics"]["n"] <= n and not set(fresh) & main_ids
    for variant, r in confirm.items():
        assert r["params"]["phase"] == "confirm" and r["params"]["n_items"] == len(fresh), variant
        assert [a["qid"] for a in ledger.read_answers(run_dir, "01", variant)] == fresh, variant
