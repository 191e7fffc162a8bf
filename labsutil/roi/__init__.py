"""Lab 09, the ROI benchmark: every approach of the course side by side from the run's ledger, priced, and
turned into a decision.

What it teaches: cost is arithmetic on measured quantities (compute seconds, tokens, training seconds,
labels) and dated prices; break-even volumes have a closed form; where knowledge lives (in the weights or in
the documents) decides what keeping it current costs; a recommendation comes from stated rules applied to
numbers with their intervals, and its sensitivity to each price is shown, not assumed.

Parts: `prices` (the checked prices file), `approaches` (which ledger rows stand for which approach, and
what was measured), `costs` (closed-form formulas), `decide` (scenarios, rules, sensitivity, takeaways),
`plots`, `tables` (the lab's tables, its ledger rows and `report_summary` for the run report).

Convention for labs 05 and later (how a lab's rows enter the ROI table)
------------------------------------------------------------------------
Record the row that stands for an approach with `params={"roi_approach": <name>, ...}`:
- lab 05: "lora_finetune"; lab 06: "feedback_champion"; lab 07: "raft_rag";
- lab 08: one row per serving variant that should be compared, tagged "serving:<name>" (e.g.
  "serving:int8", "serving:distilled") with `params["roi_base"]` naming the approach it serves (e.g. "rag"):
  a variant whose 95% interval lies wholly below its base's interval is left out as "loses quality".
If several rows carry the same tag, the most accurate is used. The row should carry, as every answering
row does: `metrics` `answer_accuracy`, `n` (and `ci_low`, `ci_high`); `cost` `tokens_in` and `tokens_out`
(totals over the n questions), `latency_p50_s`, `latency_p95_s`, `train_seconds` (one-time training
compute, all rounds); optionally `metrics["n_labels"]` (feedback labels used), `metrics["index_seconds"]`
(index build) and `params["device"]` ("cpu" or "gpu"; else taken from the backend and profile). Call
`ledger.record_answers(cfg, variant, records)` for the same variant so that approaches can be compared on
common questions and a cascade can be worked out.
"""
from __future__ import annotations

from .approaches import APPROACHES, Gathered, Measured, gather, wilson_interval
from .prices import DEFAULT_PRICES_FILE, Prices, load_prices
from .tables import report_summary

__all__ = ["APPROACHES", "DEFAULT_PRICES_FILE", "Gathered", "Measured", "Prices", "gather", "load_prices",
           "report_summary", "wilson_interval"]
