"""Compatibility losses as pure tensor functions: MUSCLE (the paper's Eq. 1) and the strategies it is compared to.

Conventions shared by every function:
- logits are `[..., V]` (V = vocabulary or classes or choices), `targets` and `mask` are `[...]`; for a causal
  LM the caller has already shifted them (position i predicts token i+1).
- teachers are frozen: their logits are detached here whatever the caller passes; only the student gets
  gradients.
- `mask` marks the positions that count (padding excluded); every mean is 1/n Σ over those n positions, and
  whatever sits at a masked-out position (even inf/nan) never reaches the loss or the gradients.
- KL direction is teacher ‖ student, KL(σ(z_t/T) ‖ σ(z_s/T)), with no T² rescaling (as the paper), except
  `ensemble_loss`, which is not the paper's and scales by T² (see there).
- `lam` is the paper's λ in `λ·L + (1−λ)·CE`; λ = 1 (the default) means no ground-truth cross-entropy.
  The CE averages over the positions whose target is a label: `UNLABELLED` targets (an input without a label,
  `fix --unlabelled`) count in the teacher term only.

A teacher is either full logits or a `TopK` (its k largest logits + the log-partition), the memory-saving form
the trainer caches for large vocabularies; see `topk_kd_kl` for what that approximation computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

DEFAULT_TEMPERATURE = 2.0
FOCAL_ALPHA = 1.0
FOCAL_BETA = 5.0
UNLABELLED = -1  # the target of an input without a label: no CE there, and never "the old model is right"
MASKED_CHOICE = -1e9  # score given to padded choice slots: zero probability, but finite (no nan in gradients)


@dataclass(frozen=True)
class TopK:
    """A teacher distribution kept as its top-k logits per position.

    `values`/`indices` are `[..., k]` (values sorted descending, raw logits), `log_z` is `[...]`:
    logsumexp(z / temperature) over the full vocabulary, so the k probabilities at that temperature are exact.
    """

    values: Tensor
    indices: Tensor
    log_z: Tensor
    temperature: float


if TYPE_CHECKING:
    Teacher = Tensor | TopK  # full logits or their top-k form


def kd_kl(teacher_logits: Tensor, student_logits: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """Per position KL(σ(z_t/T) ‖ σ(z_s/T)) over the last dimension; `[...]`, gradients only to the student."""
    import torch.nn.functional as F

    t_logp = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    s_logp = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return (t_logp.exp() * (t_logp - s_logp)).sum(-1)


def topk_kd_kl(teacher: TopK, student_logits: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """KL(teacher ‖ student) over the teacher's top-k tokens plus one bucket holding all other tokens.

    Exact on the k kept probabilities; the rest of both distributions is lumped into a single "tail" outcome,
    which makes this a lower bound of the full KL that is tight when the teacher's tail mass is small (the
    usual case for k = 64 on a trained LM). Used only when full logits do not fit in memory.
    """
    import torch
    import torch.nn.functional as F

    if abs(teacher.temperature - temperature) > 1e-9:
        raise ValueError(f"teacher cached at T={teacher.temperature}, loss asked for T={temperature}")
    t_logp = teacher.values.detach().float() / temperature - teacher.log_z.detach().float().unsqueeze(-1)
    s_all = F.log_softmax(student_logits.float() / temperature, dim=-1)
    s_logp = s_all.gather(-1, teacher.indices.long())
    head = (t_logp.exp() * (t_logp - s_logp)).sum(-1)
    t_tail = _log1mexp(torch.logsumexp(t_logp, dim=-1))
    s_tail = _log1mexp(torch.logsumexp(s_logp, dim=-1))
    return head + t_tail.exp() * (t_tail - s_tail)


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 − eˣ) for x ≤ 0, stable; x is clamped just below 0 so rounding never yields nan."""
    import torch

    x = x.clamp(max=-1e-6)
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def teacher_kl(teacher: Teacher, student_logits: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """`kd_kl` for full teacher logits, `topk_kd_kl` for a TopK teacher."""
    if isinstance(teacher, TopK):
        return topk_kd_kl(teacher, student_logits, temperature)
    return kd_kl(teacher, student_logits, temperature)


def teacher_top1(teacher: Teacher) -> Tensor:
    """The teacher's argmax per position."""
    if isinstance(teacher, TopK):
        return teacher.indices[..., 0].long()
    return teacher.detach().argmax(-1)


def pick_teacher(use_first: Tensor, first: Teacher, second: Teacher) -> Teacher:
    """Per position, `first` where `use_first` is true and `second` elsewhere (both of the same form)."""
    import torch

    if isinstance(first, TopK) and isinstance(second, TopK):
        cond = use_first.unsqueeze(-1)
        return TopK(
            torch.where(cond, first.values, second.values),
            torch.where(cond, first.indices, second.indices),
            torch.where(use_first, first.log_z, second.log_z),
            first.temperature,
        )
    if isinstance(first, TopK) or isinstance(second, TopK):
        raise TypeError("both teachers must be full logits or both TopK")
    return torch.where(use_first.unsqueeze(-1), first.detach(), second.detach())


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """1/n Σ over the n positions where `mask` is true (0 when there are none)."""
    import torch

    keep = mask.bool()
    total = torch.where(keep, values, torch.zeros_like(values)).sum()
    return total / keep.sum().clamp_min(1)


def token_ce(student_logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Per position cross-entropy −log σ(z_s)[y]; masked-out positions give 0 (their targets may be padding)."""
    import torch
    import torch.nn.functional as F

    keep = mask.bool()
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets)).long()
    logp = F.log_softmax(student_logits.float(), dim=-1)
    ce = -logp.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    return torch.where(keep, ce, torch.zeros_like(ce))


def ce_loss(student_logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy over the valid positions (the plain fine-tuning loss)."""
    return masked_mean(token_ce(student_logits, targets, mask), mask)


def _with_ce(loss: Tensor, student_logits: Tensor, targets: Tensor, mask: Tensor, lam: float) -> Tensor:
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    if lam == 1.0:
        return loss
    labelled = mask.bool() & (targets != UNLABELLED)
    return lam * loss + (1.0 - lam) * ce_loss(student_logits, targets, labelled)


def student_wrong(student_logits: Tensor, targets: Tensor) -> Tensor:
    """m_i = 1[argmax z_s,i ≠ y_i], detached: the MUSCLE mask."""
    return student_logits.detach().argmax(-1) != targets


def muscle_loss(
    student_logits: Tensor,
    old: Teacher,
    new: Teacher,
    targets: Tensor,
    mask: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    lam: float = 1.0,
) -> Tensor:
    """MUSCLE (Eq. 1): KD to the old teacher where the student's top-1 is wrong, to the new one where it is right.

    L = 1/n Σ_i m_i·KL(σ(z_old/T) ‖ σ(z_s/T)) + (1 − m_i)·KL(σ(z_new/T) ‖ σ(z_s/T)), m_i = 1[argmax z_s ≠ y].
    """
    teacher = pick_teacher(student_wrong(student_logits, targets), old, new)
    loss = masked_mean(teacher_kl(teacher, student_logits, temperature), mask)
    return _with_ce(loss, student_logits, targets, mask, lam)


def kd_old_loss(
    student_logits: Tensor,
    old: Teacher,
    targets: Tensor,
    mask: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    lam: float = 1.0,
) -> Tensor:
    """Plain distillation to the old model at every position (the paper's ablation)."""
    loss = masked_mean(teacher_kl(old, student_logits, temperature), mask)
    return _with_ce(loss, student_logits, targets, mask, lam)


def old_correct_loss(
    student_logits: Tensor,
    old: Teacher,
    new: Teacher,
    targets: Tensor,
    mask: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    lam: float = 1.0,
) -> Tensor:
    """KD to the old model where the old model's top-1 is right, to the new one elsewhere (the paper's ablation)."""
    teacher = pick_teacher(teacher_top1(old) == targets, old, new)
    loss = masked_mean(teacher_kl(teacher, student_logits, temperature), mask)
    return _with_ce(loss, student_logits, targets, mask, lam)


def focal_loss(
    student_logits: Tensor,
    old: Teacher,
    targets: Tensor,
    mask: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    alpha: float = FOCAL_ALPHA,
    beta: float = FOCAL_BETA,
    kd_weight: float = 1.0,
) -> Tensor:
    """Positive-congruent focal distillation (Yan et al. 2021): CE + λ·mean((α + β·1[old right])·KL(old ‖ s)).

    Its form always keeps the cross-entropy; `kd_weight` is its λ.
    """
    old_right = (teacher_top1(old) == targets).float()
    weights = alpha + beta * old_right
    distill = masked_mean(weights * teacher_kl(old, student_logits, temperature), mask)
    return ce_loss(student_logits, targets, mask) + kd_weight * distill


def ensemble_loss(
    student_logits: Tensor,
    old: Teacher,
    new: Teacher,
    targets: Tensor,
    mask: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    old_weight: float = 0.5,
    beta: float = 0.0,
    lam: float = 1.0,
) -> Tensor:
    """Distillation of the old+new ensemble (ELODI-style): one student learns the mix of both teachers.

    p_i = w·σ(z_old,i/T) + (1 − w)·σ(z_new,i/T)   (a mixture of probabilities, not of logits)
    L   = T² · 1/n Σ_i (1 + β·1[argmax z_old,i = y_i]) · KL(p_i ‖ σ(z_s,i/T))
    then λ·L + (1 − λ)·CE as the other strategies. The T² (Hinton et al. 2015) keeps the distillation
    gradient on the cross-entropy's scale whatever T: without it, at T = 2 on two classes the term is about a
    hundredth of the CE and the mix trains as plain fine-tuning (docs/fix.md measures both gradient norms). Averaging the two models' probabilities at inference removes
    far more flips than either model alone keeps (44 → 22 at w = 0.5 on the demo pair, docs/BENCHMARKS.md); this trains
    one model towards that average, so serving still costs one model. β > 0 adds focal weight where the old
    model is right (two-source focal distillation). Needs full teacher logits (TopK teachers raise TypeError).
    """
    import math

    import torch
    import torch.nn.functional as F

    if isinstance(old, TopK) or isinstance(new, TopK):
        raise TypeError("ensemble distillation needs full teacher logits, not top-k")
    if not 0.0 <= old_weight <= 1.0:
        raise ValueError(f"old_weight {old_weight} must be in [0, 1]")
    old_logp = F.log_softmax(old.detach().float() / temperature, dim=-1)
    new_logp = F.log_softmax(new.detach().float() / temperature, dim=-1)
    # log(w·p_old + (1 − w)·p_new), stable, and exact at w = 0 or 1 (log 0 = -inf drops that teacher).
    with torch.no_grad():
        log_w = torch.tensor(math.log(old_weight) if old_weight > 0 else -math.inf, device=old_logp.device)
        log_1w = torch.tensor(math.log1p(-old_weight) if old_weight < 1 else -math.inf, device=old_logp.device)
        mix_logp = torch.logaddexp(old_logp + log_w, new_logp + log_1w)
    s_logp = F.log_softmax(student_logits.float() / temperature, dim=-1)
    mix_p = mix_logp.exp()
    kl = (mix_p * (mix_logp - s_logp)).nan_to_num(nan=0.0).sum(-1)  # 0·(-inf − x) where p = 0: no mass there
    weights = temperature**2 * (1.0 + beta * (old.detach().argmax(-1) == targets).float())
    return _with_ce(masked_mean(weights * kl, mask), student_logits, targets, mask, lam)


def mask_choices(scores: Tensor, choice_mask: Tensor | None) -> Tensor:
    """Scores with padded choice slots set to a huge negative number (zero probability, finite gradients).

    Choice level (`--level choice`): `[B, C]` scores (each choice's summed log-likelihood) masked this way are
    the "logits" of one position per instance, and every loss above applies to them unchanged.
    """
    if choice_mask is None:
        return scores
    return scores.float().masked_fill(~choice_mask.bool(), MASKED_CHOICE)


def sequence_loss(student_logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Sequence-level distillation: cross-entropy on target texts (the old model's outputs where they were right,
    the reference elsewhere); `mask` covers the target's tokens. Vocabulary-agnostic: the targets are text."""
    return ce_loss(student_logits, targets, mask)
