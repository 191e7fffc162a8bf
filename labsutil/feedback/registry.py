"""The model registry and its gate: a challenger replaces the champion only when the numbers say so.

Iterative-DPO recipes replace the model every round whatever it scores; a corrupted round of feedback
then ships a worse model. The gate promotes a challenger only if, on a frozen held-out set (questions
never used for feedback):

1. it is at least as accurate as the champion (`min_gain`, default 0), the paired comparison (exact
   McNemar on the same questions) reported with it, so a reader sees whether the difference is real;
2. it clears an absolute floor of accuracy;
3. it loses no more than `max_control_drop` accuracy on the control set (the forgetting guard).

Otherwise it is rejected and the champion stays. Every decision goes to the audit log with its numbers
and reasons (each check passed or failed), and `rollback()` restores the previous champion in one call,
also recorded. Statuses change and the audit row is written in one transaction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .store import AuditEntry, ModelVersion, Store


class RegistryError(RuntimeError):
    """A registry operation that cannot be done as asked (the message says why); nothing was changed."""


@dataclass(frozen=True)
class GatePolicy:
    floor: float                   # the challenger's held-out accuracy must reach this
    max_control_drop: float        # control accuracy may fall by at most this much (absolute)
    min_gain: float = 0.0          # held-out accuracy the challenger must gain (0: at least as accurate)

    def __post_init__(self):
        for name in ("floor", "max_control_drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r}: an accuracy difference or level from 0 to 1")


@dataclass(frozen=True)
class GateDecision:
    challenger: str
    champion: str
    promoted: bool
    reasons: list[str]
    numbers: dict

    def __str__(self) -> str:
        head = f"{self.challenger}: {'PROMOTED over' if self.promoted else 'REJECTED; champion stays'} {self.champion}"
        return "\n".join([head, *[f"  - {r}" for r in self.reasons]])


def correct_by_question(records: Sequence) -> dict[str, bool]:
    """{qid: correct} from scored records (e.g. `labsutil.rag.pipeline.Record`)."""
    return {r.qid: bool(r.correct) for r in records}


def fingerprint(question_ids) -> str:
    """A short hash of a question set: the same set always gives the same fingerprint."""
    return hashlib.sha256("\n".join(sorted(question_ids)).encode()).hexdigest()[:16]


def paired_comparison(champion: Mapping[str, bool], challenger: Mapping[str, bool]) -> dict:
    """The challenger against the champion on the same questions: accuracies, difference, exact McNemar p."""
    if set(champion) != set(challenger):
        missing = sorted(set(champion) ^ set(challenger))[:5]
        raise RegistryError(f"the two models were scored on different questions (e.g. {missing}): "
                            "a paired comparison needs the same questions")
    n = len(champion)
    if n == 0:
        raise RegistryError("no questions scored: the gate cannot decide on an empty set")
    from .. import stats

    qids = sorted(champion)
    comparison = stats.paired_binary([champion[q] for q in qids], [challenger[q] for q in qids],
                                     names=("champion", "challenger"))
    return {"n": n, "champion_accuracy": round(sum(champion.values()) / n, 4),
            "challenger_accuracy": round(sum(challenger.values()) / n, 4),
            "diff": round(comparison.diff, 4), "diff_ci_low": round(comparison.ci_low, 4),
            "diff_ci_high": round(comparison.ci_high, 4), "challenger_only": comparison.b_only,
            "champion_only": comparison.a_only, "p_value": round(comparison.p_value, 4), "test": comparison.test}


def decide(policy: GatePolicy, heldout_champion: Mapping[str, bool], heldout_challenger: Mapping[str, bool],
           control_champion: Mapping[str, bool], control_challenger: Mapping[str, bool]) -> tuple[bool, list, dict]:
    """The gate's three checks: (promoted, reasons, numbers). Pure: writes nothing."""
    held = paired_comparison(heldout_champion, heldout_challenger)
    control = paired_comparison(control_champion, control_challenger)
    drop = round(control["champion_accuracy"] - control["challenger_accuracy"], 4)
    significant = "significant" if held["p_value"] < 0.05 else "not significant"
    checks = {
        "accuracy": held["diff"] >= policy.min_gain - 1e-12,
        "floor": held["challenger_accuracy"] >= policy.floor - 1e-12,
        "forgetting": drop <= policy.max_control_drop + 1e-12,
    }
    reasons = [
        f"{'pass' if checks['accuracy'] else 'FAIL'} accuracy: held-out {held['challenger_accuracy']:.3f} vs "
        f"champion {held['champion_accuracy']:.3f} (diff {held['diff']:+.3f}, required >= {policy.min_gain:+.3f}; "
        f"{held['test']} p={held['p_value']:.3g}, {significant}; n={held['n']}, "
        f"{held['challenger_only']} won / {held['champion_only']} lost)",
        f"{'pass' if checks['floor'] else 'FAIL'} floor: held-out {held['challenger_accuracy']:.3f} "
        f"{'>=' if checks['floor'] else '<'} floor {policy.floor:.3f}",
        f"{'pass' if checks['forgetting'] else 'FAIL'} forgetting: control {control['champion_accuracy']:.3f} -> "
        f"{control['challenger_accuracy']:.3f} (drop {drop:+.3f}, allowed {policy.max_control_drop:.3f}; "
        f"n={control['n']}, p={control['p_value']:.3g})",
    ]
    numbers = {"heldout": held, "control": control, "control_drop": drop, "checks": checks,
               "policy": {"floor": policy.floor, "max_control_drop": policy.max_control_drop,
                          "min_gain": policy.min_gain},
               "heldout_fingerprint": fingerprint(heldout_champion),
               "control_fingerprint": fingerprint(control_champion)}
    return all(checks.values()), reasons, numbers


class Registry:
    """Model versions and their statuses in a feedback store, changed only through the gate or a rollback."""

    def __init__(self, store: Store):
        self.store = store

    def register(self, version_id: str, *, base_model: str, parent_id: str | None = None,
                 adapter_path: str | Path | None = None, train_data_hash: str | None = None,
                 metrics: Mapping | None = None, champion: bool = False) -> ModelVersion:
        """Add a version: a challenger, or with `champion=True` the starting champion (only when none exists)."""
        with self.store.transaction():
            version = self.store.add_model_version(
                version_id, base_model=base_model, status="champion" if champion else "challenger",
                parent_id=parent_id, adapter_path=adapter_path, train_data_hash=train_data_hash, metrics=metrics)
            self.store.add_audit("register", version_id, previous_champion=None,
                                 reasons=["starting champion" if champion else "new challenger"],
                                 numbers=dict(metrics or {}))
        return version

    def champion(self) -> ModelVersion:
        found = self.store.champion()
        if found is None:
            raise RegistryError("no champion yet: register the starting model with champion=True")
        return found

    def _check_heldout_frozen(self, heldout: Mapping[str, bool]) -> None:
        for entry in reversed(self.store.audit_log()):
            if entry.action in ("promote", "reject") and "heldout_fingerprint" in entry.numbers:
                if entry.numbers["heldout_fingerprint"] != fingerprint(heldout):
                    raise RegistryError(
                        f"the held-out set changed since the gate's decision #{entry.id} (fingerprint "
                        f"{entry.numbers['heldout_fingerprint']} then, {fingerprint(heldout)} now): "
                        "gate every round on the same frozen questions")
                break
        leaked = sorted(set(heldout) & self.store.question_ids_with_feedback())
        if leaked:
            raise RegistryError(f"{len(leaked)} held-out question(s) received feedback (e.g. {leaked[:3]}): "
                                "a held-out set must never be used for feedback or training")

    def gate(self, challenger_id: str, *, policy: GatePolicy, heldout_champion: Mapping[str, bool],
             heldout_challenger: Mapping[str, bool], control_champion: Mapping[str, bool],
             control_challenger: Mapping[str, bool]) -> GateDecision:
        """Promote or reject `challenger_id` (see the module docstring); the decision is audited."""
        challenger = self.store.model_version(challenger_id)
        if challenger is None or challenger.status != "challenger":
            raise RegistryError(f"{challenger_id!r} is not a challenger "
                                f"({'unknown' if challenger is None else 'status ' + challenger.status})")
        champion = self.champion()
        self._check_heldout_frozen(heldout_champion)
        promoted, reasons, numbers = decide(policy, heldout_champion, heldout_challenger, control_champion,
                                            control_challenger)
        summary = {"heldout_accuracy": numbers["heldout"]["challenger_accuracy"],
                   "control_accuracy": numbers["control"]["challenger_accuracy"]}
        with self.store.transaction():
            if promoted:
                self.store.set_status(champion.id, "retired")
                self.store.set_status(challenger_id, "champion", metrics=summary)
            else:
                self.store.set_status(challenger_id, "rejected", metrics=summary)
            self.store.add_audit("promote" if promoted else "reject", challenger_id, previous_champion=champion.id,
                                 reasons=reasons, numbers=numbers)
        return GateDecision(challenger_id, champion.id, promoted, reasons, numbers)

    def rollback(self, reason: str = "rolled back by request") -> AuditEntry:
        """Restore the champion that the current one replaced; the current one is marked rejected."""
        current = self.champion()
        promotions = [e for e in self.store.audit_log("promote") if e.model_version == current.id]
        if not promotions:
            raise RegistryError(f"{current.id} was not promoted by the gate (it is the starting champion): "
                                "there is no previous champion to roll back to")
        previous = promotions[-1].previous_champion
        with self.store.transaction():
            self.store.set_status(current.id, "rejected")
            self.store.set_status(previous, "champion")
            entry_id = self.store.add_audit("rollback", previous, previous_champion=current.id, reasons=[reason],
                                            numbers={"from": current.id, "to": previous})
        return next(e for e in self.store.audit_log("rollback") if e.id == entry_id)

    def history(self):
        """The audit log as a pandas DataFrame (one row per decision)."""
        import pandas as pd

        return pd.DataFrame([{"id": e.id, "action": e.action, "model_version": e.model_version,
                              "previous_champion": e.previous_champion, "reasons": "; ".join(e.reasons),
                              "created": e.created} for e in self.store.audit_log()])
