"""Part 1, prompting (lab 01): what a prompt alone can do for a small model on the domain's tasks.

- `techniques`: zero-shot, few-shot (random or similar examples), role prompts, chain-of-thought,
  self-consistency, each run on the same examples and scored (`PromptRunner`, `plan`, `record`).
- `structured`: JSON output with a pydantic schema: lenient parsing, validate-and-retry, field-level F1,
  and constrained decoding (lm-format-enforcer) that makes the output parse by construction.
"""
