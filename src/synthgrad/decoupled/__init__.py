"""Update unlocking in wall-clock time: an MLP split into K stages, one process each.

The DNI paper's point is that a module with a synthetic gradient need not wait for the
modules above it. Here that is measured, not simulated: the network of :func:`models.mlp`
(one seed, S=1, no batch norm by default) is cut into ``K`` contiguous stages of blocks
(:func:`split_blocks`), each stage runs in a process of its own on ``torch.distributed``
(gloo on 127.0.0.1; another ``backend``, or several hosts, through ``torchrun``), and every
schedule trains the same initial weights on the same minibatches:

- ``"backprop"``: one process with ``K`` torch threads, the package's own training step
  (:class:`~synthgrad.rules.Backprop`, Adam): the baseline;
- ``"gpipe"`` and ``"1f1b"``: pipelined backprop with ``torch.distributed.pipelining``
  (``ScheduleGPipe``, ``Schedule1F1B``; ``microbatches`` per step);
- ``"dni"``: asynchronous cDNI. Stage ``k`` forwards step ``t``, sends its output up,
  predicts the gradient there with its SG and updates its layers at once; the gradient at
  stage ``k+1``'s input comes back down whenever stage ``k+1`` has it, and trains the SG on
  the stored activation of that step. Stages run ahead of each other, at most ``max_lag``
  unanswered steps;
- ``"dni_sync"``: the same stages, each waiting for the SG target of step ``t`` before step
  ``t+1``: numerically the package's single-process SG rule (tested), so the distributed code
  is shown to compute the package's algorithm.

:func:`run` returns a :class:`Result` (:func:`fit_schedule`: several seeds, as the results
store's History): wall-clock seconds, examples per second, per-stage
compute and waiting time, the SG targets' staleness and an accuracy-against-time trace.
Evaluation stays off the clock: stages copy their parameters at evaluation steps and the
parent evaluates the copies after the run. :func:`measure_costs` and :func:`predict` are a
cost model that predicts throughput for other ``K`` from per-block timings (:func:`fit_costs`:
those timings as a stored run, read back by :func:`stored_costs`).

Failures: every wait for a neighbour has a timeout (``Config.timeout_s``); a stage that
raises sends its traceback to the parent and exits; the parent watches every process, and
when one fails it stops the others and raises :class:`StageFailed` naming the stage. No
stage process outlives :func:`run`.

Modules: :mod:`.config` (Config, Result, stages and SG positions), :mod:`.bookkeeping` (what a
stage keeps: data, minibatches, log, clock), :mod:`.stages` (the stage programs),
:mod:`.processes` (the stage supervisor), :mod:`.launch` (:func:`run`), :mod:`.costs` (the
cost model).
"""

from .config import PIPELINED, SCHEDULES, Config, Result, StageFailed, sg_positions, split_blocks
from .costs import Costs, fit_costs, measure_costs, predict, stored_costs
from .launch import fit_schedule, run

__all__ = [
    "PIPELINED",
    "SCHEDULES",
    "Config",
    "Costs",
    "Result",
    "StageFailed",
    "fit_costs",
    "fit_schedule",
    "measure_costs",
    "predict",
    "run",
    "sg_positions",
    "split_blocks",
    "stored_costs",
]
