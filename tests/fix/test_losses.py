"""The compatibility losses on hand-built logits: masks, KL direction, temperature, padding, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from muscle_guard.fix import losses
from muscle_guard.fix.losses import TopK


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def softmax(z: list[float], t: float = 1.0) -> list[float]:
    e = [math.exp(v / t) for v in z]
    return [v / sum(e) for v in e]


def test_kd_kl_matches_hand_computed_value() -> None:
    teacher, student = [2.0, 0.0, -1.0], [0.0, 1.0, 0.0]
    got = losses.kd_kl(torch.tensor([teacher]), torch.tensor([student]), temperature=1.0)
    assert got.item() == pytest.approx(kl(softmax(teacher), softmax(student)), rel=1e-5)


def test_kd_kl_is_teacher_to_student_not_the_reverse() -> None:
    a, b = torch.tensor([[3.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 1.0]])
    forward = losses.kd_kl(a, b, 1.0).item()
    assert forward == pytest.approx(kl(softmax([3, 0, 0]), softmax([0, 1, 1])), rel=1e-5)
    assert forward != pytest.approx(losses.kd_kl(b, a, 1.0).item(), rel=1e-2)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_temperature_divides_the_logits(temperature: float) -> None:
    teacher, student = [1.0, 2.0, 0.5], [0.3, -0.2, 1.1]
    got = losses.kd_kl(torch.tensor(teacher), torch.tensor(student), temperature).item()
    assert got == pytest.approx(kl(softmax(teacher, temperature), softmax(student, temperature)), rel=1e-5)


def test_higher_temperature_softens_the_penalty() -> None:
    teacher, student = torch.tensor([5.0, 0.0]), torch.tensor([0.0, 5.0])
    assert losses.kd_kl(teacher, student, 4.0) < losses.kd_kl(teacher, student, 1.0)


def test_identical_distributions_give_zero() -> None:
    z = torch.randn(3, 5)
    assert torch.allclose(losses.kd_kl(z, z.clone(), 2.0), torch.zeros(3), atol=1e-6)


# One sequence of 3 positions over a vocabulary of 3; targets are token 0 everywhere.
STUDENT = [[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]  # right, wrong, wrong
OLD = [[0.0, 3.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 3.0]]  # old top-1: wrong, right, wrong
NEW = [[4.0, 0.0, 0.0], [0.0, 0.0, 4.0], [1.0, 1.0, 1.0]]


def tensors() -> tuple[torch.Tensor, ...]:
    return torch.tensor(STUDENT), torch.tensor(OLD), torch.tensor(NEW), torch.zeros(3, dtype=torch.long)


def per_position(teachers: list[list[float]], t: float = 2.0) -> list[float]:
    return [kl(softmax(z, t), softmax(s, t)) for z, s in zip(teachers, STUDENT, strict=True)]


def test_muscle_uses_new_where_student_right_and_old_where_wrong() -> None:
    student, old, new, targets = tensors()
    got = losses.muscle_loss(student, old, new, targets, torch.ones(3, dtype=torch.bool), temperature=2.0)
    expected = per_position([NEW[0], OLD[1], OLD[2]])  # student right at 0 only
    assert got.item() == pytest.approx(sum(expected) / 3, rel=1e-5)


def test_old_correct_uses_old_where_old_is_right() -> None:
    student, old, new, targets = tensors()
    got = losses.old_correct_loss(student, old, new, targets, torch.ones(3, dtype=torch.bool))
    expected = per_position([NEW[0], OLD[1], NEW[2]])  # old right at 1 only
    assert got.item() == pytest.approx(sum(expected) / 3, rel=1e-5)


def test_kd_old_distils_old_everywhere() -> None:
    student, old, _, targets = tensors()
    got = losses.kd_old_loss(student, old, targets, torch.ones(3, dtype=torch.bool))
    assert got.item() == pytest.approx(sum(per_position(OLD)) / 3, rel=1e-5)


def test_focal_weights_old_right_positions_by_alpha_plus_beta() -> None:
    student, old, _, targets = tensors()
    got = losses.focal_loss(student, old, targets, torch.ones(3, dtype=torch.bool), alpha=1.0, beta=5.0, kd_weight=0.5)
    ce = sum(-math.log(softmax(s)[0]) for s in STUDENT) / 3
    kds = per_position(OLD)
    assert got.item() == pytest.approx(ce + 0.5 * (kds[0] + 6 * kds[1] + kds[2]) / 3, rel=1e-5)


def test_ce_weight_mixes_lambda_l_with_one_minus_lambda_ce() -> None:
    student, old, new, targets = tensors()
    mask = torch.ones(3, dtype=torch.bool)
    pure = losses.muscle_loss(student, old, new, targets, mask).item()
    ce = losses.ce_loss(student, targets, mask).item()
    mixed = losses.muscle_loss(student, old, new, targets, mask, lam=0.25).item()
    assert mixed == pytest.approx(0.25 * pure + 0.75 * ce, rel=1e-6)


def test_mean_is_over_valid_positions_only() -> None:
    student, old, new, targets = tensors()
    mask = torch.tensor([True, True, False])
    got = losses.muscle_loss(student, old, new, targets, mask)
    assert got.item() == pytest.approx(sum(per_position([NEW[0], OLD[1], OLD[2]])[:2]) / 2, rel=1e-5)


def test_padded_positions_never_change_loss_or_gradients() -> None:
    torch.manual_seed(0)
    student = torch.randn(2, 4, 7)
    old, new = torch.randn(2, 4, 7), torch.randn(2, 4, 7)
    targets = torch.randint(0, 7, (2, 4))
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    pad = ~mask

    def loss_and_grad(s: torch.Tensor, o: torch.Tensor, n: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        s = s.clone().requires_grad_(True)
        loss = losses.muscle_loss(s, o, n, y, mask, lam=0.5)
        loss.backward()
        assert s.grad is not None
        return loss.item(), s.grad[mask]

    base_loss, base_grad = loss_and_grad(student, old, new, targets)
    s2, o2, n2, y2 = student.clone(), old.clone(), new.clone(), targets.clone()
    s2[pad] = 1e4 * torch.randn(int(pad.sum()), 7)
    o2[pad] = -1e4
    n2[pad] = 1e4 * torch.randn(int(pad.sum()), 7)
    y2[pad] = -100  # the usual ignore index on padding
    other_loss, other_grad = loss_and_grad(s2, o2, n2, y2)
    assert other_loss == pytest.approx(base_loss, rel=1e-6)
    assert torch.allclose(other_grad, base_grad)


def mix(a: list[float], b: list[float], w: float, t: float = 2.0) -> list[float]:
    return [w * x + (1 - w) * y for x, y in zip(softmax(a, t), softmax(b, t), strict=True)]


@pytest.mark.parametrize("w", [0.0, 0.3, 0.5, 1.0])
def test_ensemble_distils_the_mixture_of_both_teachers_probabilities(w: float) -> None:
    student, old, new, targets = tensors()
    got = losses.ensemble_loss(student, old, new, targets, torch.ones(3, dtype=torch.bool), 2.0, old_weight=w)
    expected = [kl(mix(o, n, w), softmax(s, 2.0)) for o, n, s in zip(OLD, NEW, STUDENT, strict=True)]
    assert got.item() == pytest.approx(4 * sum(expected) / 3, rel=1e-5)  # × T² = 4


def test_ensemble_at_the_ends_is_plain_distillation_to_one_teacher() -> None:
    student, old, new, targets = tensors()
    mask = torch.ones(3, dtype=torch.bool)
    # T² = 4 times the paper's unscaled distillation to one teacher
    assert losses.ensemble_loss(student, old, new, targets, mask, old_weight=1.0).item() == pytest.approx(
        4 * losses.kd_old_loss(student, old, targets, mask).item(), rel=1e-6
    )
    to_new = losses.masked_mean(losses.kd_kl(new, student), mask)
    assert losses.ensemble_loss(student, old, new, targets, mask, old_weight=0.0).item() == pytest.approx(
        4 * to_new.item(), rel=1e-6
    )


def test_ensemble_focal_beta_weights_where_the_old_model_is_right() -> None:
    student, old, new, targets = tensors()
    got = losses.ensemble_loss(student, old, new, targets, torch.ones(3, dtype=torch.bool), 2.0, 0.5, beta=4.0)
    kls = [kl(mix(o, n, 0.5), softmax(s, 2.0)) for o, n, s in zip(OLD, NEW, STUDENT, strict=True)]
    assert got.item() == pytest.approx(4 * (kls[0] + 5 * kls[1] + kls[2]) / 3, rel=1e-5)  # old right at 1 only


def test_ensemble_with_ce_and_its_refusals() -> None:
    student, old, new, targets = tensors()
    mask = torch.ones(3, dtype=torch.bool)
    pure = losses.ensemble_loss(student, old, new, targets, mask).item()
    ce = losses.ce_loss(student, targets, mask).item()
    assert losses.ensemble_loss(student, old, new, targets, mask, lam=0.25).item() == pytest.approx(
        0.25 * pure + 0.75 * ce, rel=1e-6
    )
    top = TopK(old.topk(2).values, old.topk(2).indices, torch.logsumexp(old / 2, -1), 2.0)
    with pytest.raises(TypeError, match="full teacher logits"):
        losses.ensemble_loss(student, top, new, targets, mask)
    with pytest.raises(ValueError, match="old_weight"):
        losses.ensemble_loss(student, old, new, targets, mask, old_weight=1.5)


@pytest.mark.parametrize("name", ["muscle", "kd_old", "old_correct", "focal", "ensemble"])
def test_gradients_reach_only_the_student(name: str) -> None:
    torch.manual_seed(1)
    student = torch.randn(2, 3, 5, requires_grad=True)
    old = torch.randn(2, 3, 5, requires_grad=True)
    new = torch.randn(2, 3, 5, requires_grad=True)
    targets, mask = torch.randint(0, 5, (2, 3)), torch.ones(2, 3, dtype=torch.bool)
    calls = {
        "muscle": lambda: losses.muscle_loss(student, old, new, targets, mask, lam=0.5),
        "kd_old": lambda: losses.kd_old_loss(student, old, targets, mask, lam=0.5),
        "old_correct": lambda: losses.old_correct_loss(student, old, new, targets, mask, lam=0.5),
        "focal": lambda: losses.focal_loss(student, old, targets, mask),
        "ensemble": lambda: losses.ensemble_loss(student, old, new, targets, mask, beta=1.0, lam=0.5),
    }
    calls[name]().backward()
    assert student.grad is not None
    assert student.grad.abs().sum() > 0
    assert old.grad is None
    assert new.grad is None


def test_mask_is_taken_from_the_student_before_the_update_and_detached() -> None:
    # A student at the decision boundary: the mask must not depend on gradients (argmax is detached).
    student = torch.tensor([[1.0, 1.0 + 1e-3]], requires_grad=True)
    targets = torch.tensor([0])
    assert losses.student_wrong(student, targets).tolist() == [True]
    assert not losses.student_wrong(student, targets).requires_grad


def test_topk_teacher_equals_full_kl_when_k_covers_the_vocabulary_head() -> None:
    torch.manual_seed(2)
    teacher = torch.randn(4, 6) * 4
    student = torch.randn(4, 6)
    t = 2.0
    values, indices = teacher.topk(5, dim=-1)
    top = TopK(values, indices, torch.logsumexp(teacher / t, dim=-1), t)
    full = losses.kd_kl(teacher, student, t)
    approx = losses.topk_kd_kl(top, student, t)
    # Lumping the excluded token into a tail bucket lower-bounds the KL; with 5 of 6 kept it is close.
    assert torch.all(approx <= full + 1e-5)
    assert torch.allclose(approx, full, atol=2e-2)


def test_topk_teacher_in_muscle_picks_like_full_logits() -> None:
    student, old, new, targets = tensors()
    t = 2.0

    def top(z: torch.Tensor) -> TopK:
        values, indices = z.topk(3, dim=-1)
        return TopK(values, indices, torch.logsumexp(z / t, dim=-1), t)

    mask = torch.ones(3, dtype=torch.bool)
    full = losses.muscle_loss(student, old, new, targets, mask, t)
    approx = losses.muscle_loss(student, top(old), top(new), targets, mask, t)
    assert approx.item() == pytest.approx(full.item(), abs=1e-4)


def test_choice_level_masks_per_instance_and_ignores_padded_choices() -> None:
    # Two instances; the second has only two real choices (third slot is padding).
    student = torch.tensor([[-1.0, -3.0, -2.0], [-5.0, -1.0, 99.0]])
    old = torch.tensor([[-2.0, -1.0, -3.0], [-1.0, -4.0, 0.0]])
    new = torch.tensor([[-1.0, -2.0, -2.5], [-2.0, -1.5, 7.0]])
    answers = torch.tensor([0, 0])  # student right on the first, wrong on the second
    choice_mask = torch.tensor([[True, True, True], [True, True, False]])
    masked = [losses.mask_choices(scores, choice_mask) for scores in (student, old, new)]
    got = losses.muscle_loss(*masked, answers, torch.ones(2, dtype=torch.bool), temperature=2.0)
    first = kl(softmax([-1.0, -2.0, -2.5], 2), softmax([-1.0, -3.0, -2.0], 2))  # right → new
    second = kl(softmax([-1.0, -4.0], 2), softmax([-5.0, -1.0], 2))  # wrong → old, padding dropped
    assert got.item() == pytest.approx((first + second) / 2, rel=1e-5)


def test_sequence_loss_is_cross_entropy_on_target_tokens() -> None:
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [9.0, -9.0]]])
    targets = torch.tensor([[0, 0, 1]])
    mask = torch.tensor([[True, True, False]])
    expected = (-math.log(softmax([2, 0])[0]) - math.log(softmax([0, 2])[0])) / 2
    assert losses.sequence_loss(logits, targets, mask).item() == pytest.approx(expected, rel=1e-5)


def test_lambda_out_of_range_is_rejected() -> None:
    student, old, new, targets = tensors()
    with pytest.raises(ValueError, match="lam"):
        losses.muscle_loss(student, old, new, targets, torch.ones(3, dtype=torch.bool), lam=1.5)


def test_an_unlabelled_input_counts_in_the_teacher_term_and_not_in_the_ce() -> None:
    """`fix --unlabelled`: an input without a label (target UNLABELLED) is distilled like any other, and the CE
    averages over the labelled ones only."""
    student, old, new, targets = tensors()
    mask = torch.ones(3, dtype=torch.bool)
    unlabelled = targets.clone()
    unlabelled[2] = losses.UNLABELLED
    pure = losses.ensemble_loss(student, old, new, targets, mask).item()  # the teacher term ignores the labels
    assert losses.ensemble_loss(student, old, new, unlabelled, mask).item() == pytest.approx(pure, rel=1e-6)
    ce_two = losses.ce_loss(student[:2], targets[:2], mask[:2]).item()
    got = losses.ensemble_loss(student, old, new, unlabelled, mask, lam=0.25).item()
    assert got == pytest.approx(0.25 * pure + 0.75 * ce_two, rel=1e-6)
    # Focal weight goes where the old model is right, which an input without a label never is.
    focal = losses.ensemble_loss(student, old, new, unlabelled, mask, beta=4.0).item()
    kls = [kl(mix(o, n, 0.5), softmax(s, 2.0)) for o, n, s in zip(OLD, NEW, STUDENT, strict=True)]
    assert focal == pytest.approx(4 * (kls[0] + 5 * kls[1] + kls[2]) / 3, rel=1e-5)
