"""Lab 09 (ROI benchmark): every approach whose lab ran is in the table, with sound numbers, and the plots exist.

Which approach each lab stands for is written here again, on purpose, rather than read from
`labsutil.roi.APPROACHES`: the check must not agree with the lab just because it shares its code.
"""
from labsutil import ledger

BY_NAME = {"01": ("prompting", lambda v: v.startswith("qa/")), "02": ("closed_book", lambda v: v == "closed_book"),
           "03": ("advanced_rag", lambda v: v == "best_combined"),
           "04": ("kg_rag", lambda v: v.split("/")[0] in ("graph_local", "graph_ppr", "graph_hybrid"))}
TAGGED = {"lora_finetune", "feedback_champion", "raft_rag"}  # labs 05-07; lab 08 tags "serving:<name>"


def _answered(row):
    m = row["metrics"]
    # lab 06's rows measure accuracy on its frozen held-out set (`heldout_accuracy`)
    return any(m.get(k) is not None for k in ("answer_accuracy", "accuracy", "heldout_accuracy")) and \
        (m.get("n") or row["params"].get("n_items"))


def expected_approaches(earlier):
    """Approaches whose lab wrote answering rows to this run's ledger."""
    expected = set()
    for lab, (approach, matches) in BY_NAME.items():
        if any(r["lab"] == lab and matches(r["variant"]) and _answered(r) for r in earlier):
            expected.add(approach)
    if any(r["lab"] == "02" and r["variant"].startswith("rag_k") and _answered(r) for r in earlier):
        expected.add("rag")
    for r in earlier:
        tag = r["params"].get("roi_approach")
        if tag in TAGGED and _answered(r):
            expected.add(tag)
    return expected


def check(rows, run_dir):
    earlier = [r for r in ledger.read(run_dir) if r["lab"] != "09" and r["profile"] == "smoke"]
    by = {r["variant"]: r for r in rows}
    present = {v.split("/", 1)[1] for v in by if v.startswith("roi/")}
    expected = expected_approaches(earlier)
    missing = expected - present
    assert not missing, f"approaches whose lab ran but are not in the ROI table: {sorted(missing)}"
    serving = {r["params"]["roi_approach"] for r in earlier if str(r["params"].get("roi_approach", "")).startswith("serving:")}
    assert present - expected <= serving, f"approaches without rows behind them: {sorted(present - expected - serving)}"

    for approach in present:
        row = by[f"roi/{approach}"]
        m = row["metrics"]
        assert 0.0 <= m["ci_low"] <= m["answer_accuracy"] <= m["ci_high"] <= 1.0, (approach, m)
        assert m["n"] >= 1 and m["tokens_in_per_query"] > 0, (approach, m)
        assert m["one_time_cost"] >= 0 and m["cost_per_1k_queries"] > 0 and m["api_cost_per_1k_queries"] > 0, (approach, m)
        assert m["monthly_cost"] >= m["cost_per_1k_queries"] / 1000, (approach, m)  # at least one query a month
        assert row["cost"]["latency_p50_s"] is not None, approach

    # the closed-book row reports lab 02's own accuracy unless the question sets were aligned
    cb = by.get("roi/closed_book")
    if cb and not cb["params"]["aligned"]:
        lab02 = next(r for r in earlier if r["lab"] == "02" and r["variant"] == "closed_book")
        assert abs(cb["metrics"]["answer_accuracy"] - lab02["metrics"]["answer_accuracy"]) < 1e-3

    scenarios = [v for v in by if v.startswith("scenario/")]
    assert len(scenarios) == 5, scenarios
    for v in scenarios:
        choice = by[v]["params"]["recommended"]
        assert choice is None or choice in present, (v, choice)

    plots = ["09_cost_vs_volume.png", "09_pareto.png"] if present else []
    if by["scenario/your situation"]["params"]["recommended"]:
        plots.append("09_tornado.png")  # the sensitivity of a recommendation
    for plot in plots:
        assert (run_dir / "plots" / plot).is_file(), plot
