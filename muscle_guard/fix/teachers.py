"""The frozen teachers' outputs, computed once before training and reused every epoch (kept on the CPU).

What is cached per training example:
- causal LM, token-level strategies: the next-token logits at every position. Full-vocabulary fp32 logits when
  both teachers' logits fit in `teacher_cache_gb` (0.25 GiB by default: tiny models, short data); otherwise the top-k
  logits (fp16 values + int32 ids) and the fp32 log-partition at the training temperature, which keep the
  k largest probabilities exact and lump the rest into one tail bucket (`losses.topk_kd_kl`). Recomputing the
  teachers on the fly every step would cost two extra forward passes per step for ten epochs; top-k costs
  ~0.4 KB per position and teacher at k = 64.
- multiple choice (choice-level) and classification: one score per choice / class logit: a few floats.
Under several processes each computes its share and the shares are gathered, so every process holds all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from muscle_guard.core.progress import progress_bar
from muscle_guard.fix import batches
from muscle_guard.fix.losses import TopK
from muscle_guard.fix.modes import TeacherForm

K = TypeVar("K")
V = TypeVar("V")

if TYPE_CHECKING:
    from torch import Tensor

    from muscle_guard.fix.losses import Teacher

GIB = 1024**3
INFERENCE_BATCH = 16


@dataclass
class TeacherCache:
    """Per example index: `tokens` ([L-1, V] logits or a (values, ids, log_z) triple) or `scores` ([C] / [K])."""

    form: TeacherForm
    temperature: float
    old: dict[int, Any] = field(default_factory=dict)
    new: dict[int, Any] = field(default_factory=dict)

    def batch(self, which: str, items: Sequence[batches.Encoded], width: int) -> Teacher:
        """The teacher `which` ("old" | "new") for a batch, padded to `width` positions (or choices)."""
        import torch

        store = self.old if which == "old" else self.new
        rows = [store[e.index] for e in items]
        if self.form is TeacherForm.TOPK:
            values = _pad_stack([r[0] for r in rows], width)
            indices = _pad_stack([r[1] for r in rows], width)
            log_z = _pad_stack([r[2] for r in rows], width)
            return TopK(values, indices.long(), log_z, self.temperature)
        out: Tensor = _pad_stack(rows, width)
        return out.float() if out.dtype != torch.float32 else out


def _pad_stack(rows: Sequence[Tensor], width: int) -> Tensor:
    import torch

    shape = (len(rows), width, *rows[0].shape[1:])
    out = torch.zeros(shape, dtype=rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row
    return out


def move(teacher: Teacher, device: Any) -> Teacher:
    if isinstance(teacher, TopK):
        return TopK(
            teacher.values.to(device), teacher.indices.to(device), teacher.log_z.to(device), teacher.temperature
        )
    return teacher.to(device)


def token_form(encoded: Sequence[batches.Encoded], vocab: int, budget_gb: float) -> TeacherForm:
    """FULL when both teachers' fp32 logits over every position fit in the budget, else TOPK."""
    positions = sum(max(len(e.ids) - 1, 0) for e in encoded)
    return TeacherForm.FULL if positions * vocab * 4 * 2 <= budget_gb * GIB else TeacherForm.TOPK


def token_outputs(
    model: Any,
    encoded: Sequence[batches.Encoded],
    pad_id: int,
    device: Any,
    form: TeacherForm,
    k: int,
    temperature: float,
    progress: str = "",
) -> dict[int, Any]:
    """Next-token logits of `model` for every example (no gradients), in `form`; a bar titled `progress` if given."""
    import torch

    out: dict[int, Any] = {}
    with torch.inference_mode(), progress_bar(progress, len(encoded), bool(progress)) as bar:
        for chunk in batches.length_batches(encoded, INFERENCE_BATCH):
            bar.advance(len(chunk))
            batch = batches.token_batch(chunk, pad_id, device, target_only=False)
            logits = batches.token_logits(model, batch).float()
            for i, e in enumerate(chunk):
                z = logits[i, : len(e.ids) - 1]
                if form is TeacherForm.FULL:
                    out[e.index] = z.cpu().clone()
                else:
                    values, ids = z.topk(min(k, z.shape[-1]), dim=-1)
                    log_z = torch.logsumexp(z / temperature, dim=-1)
                    out[e.index] = (values.half().cpu(), ids.int().cpu(), log_z.cpu())
    return out


def score_outputs(
    model: Any, encoded: Sequence[batches.Encoded], task: str, pad_id: int, device: Any, progress: str = ""
) -> dict[int, Any]:
    """Choice log-likelihoods (multiple choice) or class logits (classification) per example; a bar titled
    `progress` if given."""
    import torch

    out: dict[int, Any] = {}
    with torch.inference_mode(), progress_bar(progress, len(encoded), bool(progress)) as bar:
        for chunk in batches.length_batches(encoded, INFERENCE_BATCH):
            bar.advance(len(chunk))
            if task == "classify":
                scores = batches.class_logits(model, chunk, pad_id, device).float()
                for i, e in enumerate(chunk):
                    out[e.index] = scores[i].cpu().clone()
            else:
                scores, mask = batches.choice_scores(model, chunk, pad_id, device)
                for i, e in enumerate(chunk):
                    out[e.index] = scores[i, : int(mask[i].sum())].cpu().clone()
    return out


def gather(accelerator: Any, part: dict[K, V]) -> dict[K, V]:
    """Merge every process's share (a no-op with one process)."""
    if accelerator.num_processes == 1:
        return part
    from accelerate.utils import gather_object

    merged: dict[K, V] = {}
    for piece in gather_object([part]):
        merged.update(piece)
    return merged
