"""The labelling widget: a person compares two answers, blind, and the verdict goes to the feedback store.

Each item shows the question (and the retrieved context when RAG is on) and the champion's and the
challenger's answers as "A" and "B" in a seeded random order, so the labeller cannot favour the model
they expect to win. They pick "A is better", "B is better", "tie" or "both wrong", may give a thumb to
each answer, type a corrected answer and a reason, and press Submit: the rows go to the store in one
transaction and the next item appears.

Widget events reach the kernel only while it is idle (between cells): show the widget, label, then run
the next cell, which reads the store. A cell that loops waiting for clicks would freeze the widget;
`await widget.wait_for_labels(n)` waits the right way (the widget's events still reach the kernel).
`require_labels` is the check before training: it refuses to train on fewer labels than stated.
"""
from __future__ import annotations

import asyncio
import html
import random
import time
from dataclasses import dataclass
from typing import Sequence

from .store import KINDS, FeedbackError, Store

VERDICTS = {"A is better": "a", "B is better": "b", "tie": "tie", "both wrong": "both_wrong"}
THUMB_OPTIONS = [("\N{THUMBS UP SIGN} up", "up"), ("\N{THUMBS DOWN SIGN} down", "down")]


class NotEnoughLabels(RuntimeError):
    """Fewer feedback rows in the store than training needs; the message says how many and what to do."""


def require_labels(store: Store, minimum: int, *, round: int | None = None, source: str | None = None,
                   kinds: Sequence[str] = KINDS) -> dict[str, int]:
    """The store's counts per kind, or NotEnoughLabels when the chosen kinds hold fewer than `minimum` rows."""
    counts = store.counts(round=round, source=source)
    have = sum(counts[k] for k in kinds)
    if have < minimum:
        where = "" if round is None else f" for round {round}"
        detail = ", ".join(f"{counts[k]} {k}" for k in kinds)
        raise NotEnoughLabels(f"only {have} feedback row(s) in the store{where} ({detail}); training needs at "
                              f"least {minimum}. Label more items in the widget (then rerun this cell), or lower "
                              f"min_labels knowing that fewer labels give a noisier model.")
    return counts


@dataclass(frozen=True)
class PairItem:
    """One question to label: the interactions (store ids) of the champion's and the challenger's answers."""

    champion_id: int
    challenger_id: int
    question: str
    context: str | None = None


def _html_text(text: str) -> str:
    return f"<div style='white-space: pre-wrap'>{html.escape(text)}</div>"


class FeedbackWidget:
    """Blind pairwise labelling over `items`, written to `store`. Display it as the last line of a cell."""

    def __init__(self, store: Store, items: Sequence[PairItem], *, annotator: str = "human", seed: int = 0,
                 round: int | None = None):
        import ipywidgets as w

        self.store, self.items, self.annotator, self.round = store, list(items), annotator, round
        rng = random.Random(seed)
        self.swapped = [rng.random() < 0.5 for _ in self.items]  # True: A is the challenger
        self.position, self.labelled, self.skipped = 0, 0, 0
        self.written: list[list[int]] = []  # feedback ids written per labelled item

        self.progress = w.HTML()
        self.question = w.HTML()
        self.context = w.HTML()
        self.context_box = w.Accordion(children=[self.context], titles=("Retrieved context",))
        self.answer_a, self.answer_b = w.HTML(), w.HTML()
        self.thumb_a = w.ToggleButtons(options=THUMB_OPTIONS, value=None, description="A:")
        self.thumb_b = w.ToggleButtons(options=THUMB_OPTIONS, value=None, description="B:")
        self.verdict = w.ToggleButtons(options=list(VERDICTS), value=None, description="Verdict:")
        self.edit = w.Textarea(placeholder="Corrected answer (optional): it counts as better than both answers",
                               layout=w.Layout(width="95%"))
        self.reason = w.Text(placeholder="Reason (optional)", layout=w.Layout(width="95%"))
        self.submit = w.Button(description="Submit", button_style="primary")
        self.skip = w.Button(description="Skip")
        self.status = w.HTML()
        self.submit.on_click(lambda _: self._on_submit())
        self.skip.on_click(lambda _: self._on_skip())
        panel = lambda title, answer, thumb: w.VBox([w.HTML(f"<b>{title}</b>"), answer, thumb],  # noqa: E731
                                                    layout=w.Layout(width="50%", border="1px solid #ccc",
                                                                    padding="4px"))
        self.box = w.VBox([self.progress, self.question, self.context_box,
                           w.HBox([panel("Answer A", self.answer_a, self.thumb_a),
                                   panel("Answer B", self.answer_b, self.thumb_b)]),
                           self.verdict, self.edit, self.reason, w.HBox([self.submit, self.skip]), self.status])
        self._show()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)

    @property
    def done(self) -> bool:
        return self.position >= len(self.items)

    def order(self, index: int) -> tuple[int, int]:
        """(interaction shown as A, interaction shown as B) for item `index`."""
        item = self.items[index]
        if self.swapped[index]:
            return item.challenger_id, item.champion_id
        return item.champion_id, item.challenger_id

    def _show(self) -> None:
        stored = self.store.counts(round=self.round)["total"]
        self.progress.value = (f"<b>Item {min(self.position + 1, len(self.items))} of {len(self.items)}</b> · "
                               f"{self.labelled} labelled, {self.skipped} skipped · "
                               f"{stored} feedback rows in the store" + ("" if self.round is None
                                                                         else f" for round {self.round}"))
        for control in (self.thumb_a, self.thumb_b, self.verdict):
            control.value = None
        self.edit.value = self.reason.value = ""
        if self.done:
            self.question.value = (f"<b>All {len(self.items)} items done</b>: {self.labelled} labelled. "
                                   "Run the next cell to use the labels.")
            self.answer_a.value = self.answer_b.value = self.context.value = ""
            for control in (self.submit, self.skip, self.verdict, self.thumb_a, self.thumb_b, self.edit,
                            self.reason):
                control.disabled = True
            return
        item = self.items[self.position]
        a, b = (self.store.interaction(i) for i in self.order(self.position))
        self.question.value = f"<b>Question</b>{_html_text(item.question)}"
        self.context.value = _html_text(item.context) if item.context else "<i>no retrieved context</i>"
        self.context_box.layout.display = None if item.context else "none"
        self.answer_a.value, self.answer_b.value = _html_text(a.response), _html_text(b.response)

    # ------------------------------------------------------------------ events
    def rows(self) -> list[dict]:
        """The feedback rows of the current item's controls (nothing written yet)."""
        a, b = self.order(self.position)
        common = dict(reason=self.reason.value.strip() or None, source="human", annotator=self.annotator,
                      round=self.round)
        rows = []
        if self.verdict.value is not None:
            rows.append(dict(interaction_id=a, other_interaction_id=b, kind="pairwise",
                             value=VERDICTS[self.verdict.value], **common))
        for interaction, thumb in ((a, self.thumb_a.value), (b, self.thumb_b.value)):
            if thumb is not None:
                rows.append(dict(interaction_id=interaction, kind="thumbs", value=thumb, **common))
        if self.edit.value.strip():
            # A corrected answer is better than both answers shown: it is recorded as an edit of each.
            rows += [dict(interaction_id=i, kind="edit", value=self.edit.value.strip(), **common) for i in (a, b)]
        return rows

    def _on_submit(self) -> None:
        if self.done:
            return
        rows = self.rows()
        if not rows:
            self.status.value = "<span style='color:#b00'>Choose a verdict, a thumb or type an edit (or Skip).</span>"
            return
        try:
            ids = self.store.add_feedback_many(rows)
        except FeedbackError as error:
            self.status.value = f"<span style='color:#b00'>Not saved: {html.escape(str(error))}</span>"
            return
        self.written.append(ids)
        self.labelled += 1
        self.status.value = f"Saved {len(ids)} row(s) for item {self.position + 1}."
        self.position += 1
        self._show()

    def _on_skip(self) -> None:
        if self.done:
            return
        self.skipped += 1
        self.status.value = f"Skipped item {self.position + 1}."
        self.position += 1
        self._show()

    # ------------------------------------------------------------------ waiting in a cell
    def _waited_enough(self, target: int, deadline: float) -> bool:
        return self.labelled + self.skipped >= target or self.done or time.monotonic() > deadline

    async def wait_for_labels(self, n: int | None = None, timeout_s: float = 600.0, poll_s: float = 0.1) -> int:
        """In a cell: `await widget.wait_for_labels(20)` holds the cell (and Run All) until `n` items (default:
        all) are labelled or skipped, or `timeout_s` passes, while the widget stays responsive. Returns the
        number labelled.

        How the widget's events reach a waiting cell depends on the kernel (measured): ipykernel 6 queues them
        behind the running cell and jupyter-ui-poll pumps them; ipykernel 7.4 lets them through while a cell
        awaits; ipykernel 7.0-7.3 do so only when the front end sends them over a kernel subshell (JupyterLab
        4.6 does), otherwise they wait for the cell to end and this returns at `timeout_s`.
        """
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        if kernel is None:
            raise RuntimeError("wait_for_labels needs a running Jupyter kernel (await it in a notebook cell)")
        target = len(self.items) if n is None else min(n, len(self.items))
        deadline = time.monotonic() + timeout_s
        if hasattr(kernel, "do_one_iteration"):  # ipykernel 6
            from jupyter_ui_poll import ui_events

            async with ui_events() as poll:
                while not self._waited_enough(target, deadline):
                    await poll(10)
                    await asyncio.sleep(poll_s)
            return self.labelled
        while not self._waited_enough(target, deadline):
            await asyncio.sleep(poll_s)
        return self.labelled
