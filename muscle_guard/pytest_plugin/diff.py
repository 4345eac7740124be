"""Compact, readable text for a failing instance or gate: no traceback, just the evidence."""

from __future__ import annotations

import json

from muscle_guard.core.evaluate import SuiteEvaluation
from muscle_guard.core.flips import InstanceOutcome
from muscle_guard.core.formatting import percent, quoted

PROMPT_CHARS = 400
ANSWER_CHARS = 200
CHOICE_CHARS = 24


def trim(text: str, limit: int = PROMPT_CHARS) -> str:
    """At most `limit` characters of `text`, unquoted and unchanged, the middle left out and counted.

    For text shown on its own; text shown next to other text for comparison goes through `quoted`.
    """
    if len(text) <= limit:
        return text
    head = (limit + 1) // 2
    tail = limit - head
    return f"{text[:head]} ... [{len(text) - limit:,} characters left out] ... {text[len(text) - tail :]}"


def _mark(correct: bool) -> str:
    return "right" if correct else "WRONG"


def _evidence(outcome: InstanceOutcome) -> list[str]:
    old, new = outcome.old_evidence, outcome.new_evidence
    lines: list[str] = []
    if old is not None and new is not None and old.logliks and new.logliks:
        lines.append("  log-likelihood per choice:      old        new")
        for i, choice in enumerate(outcome.choices):
            flags = ("<old" if outcome.old.choice == i else "") + (" <new" if outcome.new.choice == i else "")
            shown = quoted(choice, CHOICE_CHARS)
            lines.append(f"    [{i}] {shown:<26} {old.logliks[i]:>9.3f}  {new.logliks[i]:>9.3f}  {flags}")
    elif old is not None and new is not None and old.probs and new.probs:
        lines.append("  class probabilities:")
        lines.append("    old: " + "  ".join(f"{p:.3f}" for p in old.probs))
        lines.append("    new: " + "  ".join(f"{p:.3f}" for p in new.probs))
    elif outcome.delta is not None:
        lines.append(f"  scores: old {outcome.old.score:.4f}  new {outcome.new.score:.4f}  D = {outcome.delta:+.4f}")
    if old is not None and new is not None and old.score is not None and new.score is not None:
        lines.append(f"  the log's per-sample metric: old {old.score:g}, new {new.score:g}")
    return lines


def flip_diff(outcome: InstanceOutcome, evaluation: SuiteEvaluation) -> str:
    """The failure text of a negative flip in a suite over its budget.

    Texts are `quoted`: answers "new\\nline" and "new line" must not read the same.
    """
    m = evaluation.metrics
    head = (
        f"negative flip: the old model was right, the new one is wrong "
        f"(suite {evaluation.suite.name}: NFR {percent(m.nfr)} = {m.nf}/{m.n}, budget {evaluation.verdict.budget})"
    )
    instance = next((i for i in evaluation.suite.instances if i.id == outcome.id), None)
    doc = instance.meta.get("doc") if instance is not None else None
    lines = [
        head,
        *([f"  doc:       {quoted(json.dumps(doc, ensure_ascii=False, default=str), PROMPT_CHARS)}"] if doc else []),
        f"  prompt:    {quoted(outcome.prompt, PROMPT_CHARS)}",
        f"  reference: {quoted(outcome.reference, ANSWER_CHARS)}",
        f"  old:       {quoted(outcome.old.answer, ANSWER_CHARS)}  ({_mark(outcome.old.correct)})",
        f"  new:       {quoted(outcome.new.answer, ANSWER_CHARS)}  ({_mark(outcome.new.correct)})",
    ]
    return "\n".join(lines + _evidence(outcome))


def gate_failure(evaluation: SuiteEvaluation) -> str:
    m = evaluation.metrics
    lines = [f"suite {evaluation.suite.name} fails its gate:"]
    lines += [f"  - {reason}" for reason in evaluation.verdict.reasons]
    lines.append(
        f"  accuracy {m.acc_old:.4f} -> {m.acc_new:.4f} ({m.delta_acc:+.4f}); "
        f"NF {m.nf}, PF {m.pf}, NFR {percent(m.nfr)}, PFR {percent(m.pfr)}, McNemar p {m.mcnemar_p:.3g}"
    )
    if evaluation.waived:
        lines.append(f"  ({len(evaluation.waived)} waived negative flip(s) not counted)")
    return "\n".join(lines)
