"""The stage programs: backprop in one process, pipelined backprop
(``torch.distributed.pipelining``) and DNI, each run by one process per stage."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from ..data import Dataset
from ..losses import LOSSES
from ..rules import Backprop
from ..train import make_optimizer
from .bookkeeping import Batches, Log, Timer, stage_device
from .config import ACT, GRAD, Config, PeerError, build_net, build_sgs, split_blocks


def backprop_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """The baseline: the package's backprop step in one process with ``K`` threads."""
    torch.set_num_threads(config.backprop_threads or config.K)
    device = stage_device(config.backend, rank)
    net = build_net(config, data).to(device)
    opt = make_optimizer([{"params": list(net.parameters()), "lr": config.lr}])
    rule, loss_fn = Backprop(), LOSSES[data.task]
    batches = Batches(data, config.batch_size, config.seed, device)
    log = Log(config, rank, net.blocks, 0)
    timer = Timer(log)
    net.train()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        x, y = batches.next()
        with timer:
            opt.zero_grad()
            loss = rule.backward(net, x, y, data.context(y), loss_fn)["loss"]
            opt.step()
        log.losses.append(loss.item())
        log.snapshot(step)
    return log.finish()


class _StageModule(nn.Module):
    """A stage's blocks for ``torch.distributed.pipelining``, which splits inputs into
    microbatches along dim 0: takes (B, d), adds the seed dimension, removes it after."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0)
        for block in self.blocks:
            h = block(h)
        return h.squeeze(0)


def _pipelined_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """Pipelined backprop: one stage of ``ScheduleGPipe`` or ``Schedule1F1B``, its own Adam.
    Gradients are the mean over microbatches of each microbatch's mean loss (the schedule's
    ``scale_grads``), i.e. the minibatch gradient."""
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    torch.set_num_threads(1)
    device = stage_device(config.backend, rank)
    net = build_net(config, data)
    start, stop = split_blocks(config.n_blocks, n)[rank]
    module = _StageModule(net.blocks[start:stop]).to(device)
    loss_each = LOSSES[data.task]

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_each(out.unsqueeze(0), y).sum()

    # (shapes are inferred at the first step: passing input_args/output_args without the
    # gradients' shapes broke stage 0's backward in torch 2.13)
    stage = PipelineStage(module, rank, n, device)
    cls = ScheduleGPipe if config.schedule == "gpipe" else Schedule1F1B
    schedule = cls(stage, n_microbatches=config.microbatches, loss_fn=loss_fn)
    opt = make_optimizer([{"params": list(module.parameters()), "lr": config.lr}])
    batches = Batches(data, config.batch_size, config.seed, device)
    log = Log(config, rank, module.blocks, start)
    timer = Timer(log)
    for name in ("forward_one_chunk", "backward_one_chunk"):  # compute, not communication
        method = getattr(stage, name)

        def timed(*args, _method=method, **kwargs):
            with timer:
                return _method(*args, **kwargs)

        setattr(stage, name, timed)
    first, last = rank == 0, rank == n - 1
    module.train()
    dist.barrier()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        if first or last:
            x, y = batches.next()
        opt.zero_grad()
        if first:
            schedule.step(x[0])
        elif last:
            losses: list[torch.Tensor] = []
            schedule.step(target=y[0], losses=losses, return_outputs=False)
            log.losses.append(torch.stack(losses).mean().item())
        else:
            schedule.step()
        with timer:
            opt.step()
        log.snapshot(step)
    out = log.finish()
    dist.barrier()
    return out


@dataclass
class _Pending:
    """A step whose SG target has not come back yet."""

    step: int
    act: torch.Tensor
    ctx: torch.Tensor | None
    pred: torch.Tensor
    version: int


def _dni_stage(rank: int, n: int, config: Config, data: Dataset) -> dict:
    """One DNI stage. Per step: receive the input (stage 0: read the data), forward, send the
    output up, predict its gradient with the SG, back-propagate the prediction (divided by the
    batch, as the package does) into the stage's layers and step their optimiser: no wait
    for the stages above. The gradient at stage k+1's input, sent down whenever it is ready,
    is the target of stage k's SG: its gradient is ``(prediction - target) / batch`` on the
    stored activation and label of that step, recomputed if the SG has changed since.
    ``max_lag`` steps may wait for their target (0: ``dni_sync``)."""
    torch.set_num_threads(1)
    device = stage_device(config.backend, rank)
    max_lag = 0 if config.schedule == "dni_sync" else config.max_lag
    timeout = timedelta(seconds=config.timeout_s)
    net = build_net(config, data)
    start, stop = split_blocks(config.n_blocks, n)[rank]
    blocks = net.blocks[start:stop].to(device)
    first, last = rank == 0, rank == n - 1
    opt = make_optimizer([{"params": list(blocks.parameters()), "lr": config.lr}])
    loss_fn = LOSSES[data.task]
    batches = Batches(data, config.batch_size, config.seed, device)
    batch = batches.batch
    d_in = data.d_in if first else net.widths[start - 1]
    d_out = net.widths[stop - 1]
    log = Log(config, rank, blocks, start)
    timer = Timer(log)
    sends: deque[tuple[dist.Work, torch.Tensor]] = deque()

    def wait(work: dist.Work, what: str) -> None:
        try:
            ok = work.wait(timeout=timeout)
        except Exception as exc:  # gloo: timed out, or the peer closed the connection
            raise PeerError(f"stage {rank} of {n}: {what} failed: {exc}") from exc
        if ok is False:
            raise PeerError(f"stage {rank} of {n}: {what} timed out ({config.timeout_s} s)")

    def send(tensor: torch.Tensor, dst: int, tag: int) -> None:
        sends.append((dist.isend(tensor, dst, tag=tag), tensor))
        while sends and sends[0][0].is_completed():
            wait(sends.popleft()[0], f"send to stage {dst}")

    sg = sg_opt = None
    pending: deque[_Pending] = deque()
    version = received = 0
    grad_buf = grad_work = None
    if not last:
        sg = build_sgs(config, data, net).sgs[rank].to(device)
        sg_lr = config.lr if config.sg_lr is None else config.sg_lr
        sg_opt = make_optimizer([{"params": list(sg.parameters()), "lr": sg_lr}])

    def post_target_recv() -> None:
        nonlocal grad_buf, grad_work
        grad_buf = torch.empty(1, batch, d_out, device=device)
        grad_work = dist.irecv(grad_buf, rank + 1, tag=GRAD)

    def take_target(current: int) -> None:
        """Train the SG on the oldest unanswered step, once its target has arrived."""
        nonlocal version, received
        wait(grad_work, f"waiting for the SG target from stage {rank + 1}")
        with timer:
            p = pending.popleft()
            pred = p.pred if p.version == version else sg(p.act, p.ctx)
            sg_opt.zero_grad()
            pred.backward(pred.detach() / batch - grad_buf)
            sg_opt.step()
            version += 1
        log.staleness.append(current - p.step)
        received += 1
        if received < config.steps:
            post_target_recv()

    if not last:
        post_target_recv()
    blocks.train()
    dist.barrier()
    log.start()
    for step in range(1, config.steps + 1):
        log.maybe_fail(step)
        while pending and pending[0].step < step - max_lag:  # bound the lag
            take_target(step - 1)
        x, y = batches.next()
        if first:
            h = x
        else:
            h = torch.empty(1, batch, d_in, device=device)
            wait(dist.irecv(h, rank - 1, tag=ACT), f"receiving step {step} from stage {rank - 1}")
            h.requires_grad_(True)
        with timer:
            out = h
            for block in blocks:
                out = block(out)
            opt.zero_grad()
            if last:
                loss = loss_fn(out, y)
                loss.sum().backward()
            else:
                act = out.detach()
                send(act, rank + 1, ACT)
                ctx = data.context(y) if sg.conditioned else None
                pred = sg(act, ctx)
                out.backward(pred.detach() / batch)
                pending.append(_Pending(step, act, ctx, pred, version))
            if not first:
                send(h.grad, rank - 1, GRAD)
            opt.step()
        if last:
            log.losses.append(loss.item())
        log.snapshot(step)
        while pending and grad_work.is_completed():  # targets that have arrived
            take_target(step)
    while pending:  # the last targets
        take_target(config.steps)
    while sends:
        wait(sends.popleft()[0], "a last send")
    if sg is not None:
        log.sg_state = {k: v.detach().to("cpu", copy=True) for k, v in sg.state_dict().items()}
    out = log.finish()
    dist.barrier()
    return out


PROGRAMS: dict[str, Callable[[int, int, Config, Dataset], dict]] = {
    "backprop": backprop_stage,
    "gpipe": _pipelined_stage,
    "1f1b": _pipelined_stage,
    "dni": _dni_stage,
    "dni_sync": _dni_stage,
}
