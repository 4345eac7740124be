"""What a model produced for one instance, as raw evidence (scored later, so scorers can change freely)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """Raw model output for one instance.

    Multiple choice: `logliks` (summed log-likelihood of each choice given the prompt);
    classification: `probs` (class probabilities in the model head's order);
    generation: `text` (the greedy continuation, cut at the first stop string).
    `score`: the verdict the tool that evaluated the model wrote for this instance (an evaluation log's per-sample
    metric: 1/0 for right/wrong, or a continuous score); when set, it decides, not muscle-guard's own scorer.
    """

    id: str
    logliks: tuple[float, ...] = ()
    probs: tuple[float, ...] = ()
    text: str | None = None
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.logliks:
            out["logliks"] = list(self.logliks)
        if self.probs:
            out["probs"] = list(self.probs)
        if self.text is not None:
            out["text"] = self.text
        if self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        """Inverse of to_json; raises ValueError/KeyError/TypeError on malformed data."""
        id_ = data["id"]
        if not isinstance(id_, str):
            raise TypeError("id must be a string")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise TypeError("text must be a string")
        score = data.get("score")
        return cls(
            id=id_,
            logliks=tuple(float(x) for x in data.get("logliks", ())),
            probs=tuple(float(x) for x in data.get("probs", ())),
            text=text,
            score=None if score is None else float(score),
        )
