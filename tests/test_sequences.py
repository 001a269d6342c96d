"""Chapter 8's sequence tasks: Copy and Repeat Copy, laid out as the DNI reimplementations do."""

import pytest
import torch

from synthgrad.data.sequences import bits_per_sequence, copy_task


def test_copy_asks_for_the_pattern_after_the_delimiter():
    task = copy_task(n=3, batch=5, bits=4, seed=1)
    assert task.xs.shape == (7, 5, 6) and task.ys.shape == (7, 5, 5)
    pattern = task.xs[:3, :, :4]
    assert torch.equal(task.ys[4:, :, :4], pattern)
    assert torch.equal(task.xs[3, :, 4], torch.ones(5))  # the delimiter, and nothing after it
    assert task.xs[4:].abs().sum() == 0
    assert torch.equal(task.mask[:, 0], torch.tensor([0, 0, 0, 0, 1, 1, 1.0]))
    assert torch.equal(copy_task(3, 5, bits=4, seed=1).xs, task.xs)  # a seed draws the same
    assert not torch.equal(copy_task(3, 5, bits=4, seed=2).xs, task.xs)


def test_repeat_copy_gives_the_count_and_ends_with_a_marker():
    task = copy_task(n=2, batch=3, repeats=3, bits=4)
    assert task.xs.shape[0] == 2 + 1 + 6 + 1
    assert torch.allclose(task.xs[2, :, 5], torch.full((3,), 0.3))
    pattern = task.xs[:2, :, :4]
    assert torch.equal(task.ys[3:9, :, :4], pattern.repeat(3, 1, 1))
    assert torch.equal(task.ys[-1, :, 4], torch.ones(3)) and task.ys[:-1, :, 4].sum() == 0
    assert task.mask[3:].all() and not task.mask[:3].any()


def test_bits_per_sequence_is_zero_when_right_and_one_bit_per_output_at_chance():
    task = copy_task(n=3, batch=4, bits=4)
    sure = 50.0 * (2 * task.ys - 1)
    assert bits_per_sequence(sure, task) < 1e-6
    chance = bits_per_sequence(torch.zeros_like(task.ys), task)
    torch.testing.assert_close(chance, torch.tensor(3 * 4.0))  # 3 steps x 4 bits
    repeat = copy_task(n=3, batch=4, repeats=2, bits=4)  # 7 output steps x (4 bits + marker)
    torch.testing.assert_close(bits_per_sequence(torch.zeros_like(repeat.ys), repeat),
                               torch.tensor(7 * 5.0))  # fmt: skip


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match="n >= 1"):
        copy_task(n=0, batch=2)
    with pytest.raises(ValueError, match="repeats"):
        copy_task(n=2, batch=2, repeats=0)
