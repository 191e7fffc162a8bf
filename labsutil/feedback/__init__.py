"""Part 6, continuous fine-tuning from human and AI feedback (lab 06): serve, collect, convert, gate, repeat.

- `store`: the feedback store in SQLite (WAL, one transaction per write, schema migrations, validation),
  exported to TRL's SFT / DPO / KTO dataset formats.
- `convert`: the rules that turn thumbs, pairwise choices, edits and ratings into training examples, with
  every row's fate counted (ties and "both wrong" included).
- `annotator`: a simulated annotator that judges against the gold answers, with a noise rate and a
  flipped (corrupted) mode, for unattended runs.
- `judge`: the LLM as a pairwise judge, asked in both orders, and its agreement with reference labels.
- `registry`: model versions, the promotion gate (held-out accuracy, floor, forgetting guard) and rollback,
  every decision in the audit log.
- `widget`: the notebook widget where a person labels blind champion/challenger pairs.
"""
