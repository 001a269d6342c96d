"""The stage supervisor: starts one process per stage (gloo on 127.0.0.1, from a fork
server), watches them, stops them all when one fails (:class:`StageFailed` names it), and
runs under ``torchrun`` where it is started so. Chapter 7's own: its processes talk to each
other, unlike the independent trainings of :mod:`synthgrad.parallel`."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import timedelta
from multiprocessing.connection import wait as wait_for

import torch.distributed as dist

from ..data import Dataset
from .bookkeeping import pack, unpack
from .config import Config, PeerError, StageFailed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(conn, message: tuple) -> None:
    """Plain pickle: multiprocessing's own would pass tensors as shared-memory handles that
    die with the child."""
    conn.send_bytes(pickle.dumps(message))


def _child(program, rank, n, init_method, config, packed, conn) -> None:
    """A stage process: run its program, send ("ok", payload) or ("error", kind, traceback)."""
    try:
        data = unpack(packed)
        if n > 1:
            dist.init_process_group(
                config.backend,
                init_method=init_method,
                rank=rank,
                world_size=n,
                timeout=timedelta(seconds=config.timeout_s),
            )
        payload = program(rank, n, config, data)
        if n > 1:
            dist.destroy_process_group()
        _send(conn, ("ok", payload))
        conn.close()
    except BaseException as exc:
        _report(conn, exc)
    # The result is in the pipe: skip the interpreter's teardown (seconds with torch loaded).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _report(conn, exc: BaseException) -> None:
    """Send a stage's error to the parent and exit nonzero at once."""
    try:
        peer = isinstance(exc, PeerError | dist.DistError) or any(
            s in str(exc) for s in ("Connection closed by peer", "Timed out", "Connection reset")
        )
        _send(conn, ("error", "peer" if peer else "raise", traceback.format_exc()))
        conn.close()
    finally:
        sys.stderr.flush()
        os._exit(1)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"exited with code {code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exited with code {code}"


def _stop(procs: Sequence[multiprocessing.Process]) -> None:
    """Terminate, then kill, every process still alive; join them all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(5.0)


def _context() -> multiprocessing.context.BaseContext:
    """Stage processes are forked from multiprocessing's fork server, which has imported torch
    and this package once (a freshly spawned process spends seconds on those imports), and
    ``torch._dynamo``, which torch's optimisers import at first use (1.5 s in every stage). The
    server is a fresh process that never ran an OpenMP region, so forking it is safe (forking
    the caller, which may have, is not). It lives as long as the calling process, like
    multiprocessing's resource tracker, and runs nothing itself."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["synthgrad.decoupled", "torch._dynamo"])
    return ctx


def spawn(program, n: int, config: Config, data: Dataset, label: str) -> list:
    """Run ``program`` in ``n`` new processes; return their payloads in rank order, or
    raise :class:`StageFailed` naming the stage as soon as one fails. A failure usually
    makes its neighbours fail too (their receives break): the stage that died or raised
    first and for its own reason is the one named."""
    ctx = _context()
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    packed = pack(data)
    procs, conns = [], []
    try:
        for rank in range(n):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_child,
                args=(program, rank, n, init_method, config, packed, send),
                name=f"synthgrad-{label}-{rank}",
                daemon=True,
            )
            p.start()
            send.close()
            procs.append(p)
            conns.append(recv)
        results: dict[int, object] = {}
        failures: list[tuple[int, int, str, str, int]] = []  # priority, rank, what, tb, code
        watching = {c: r for r, c in enumerate(conns)} | {
            p.sentinel: r for r, p in enumerate(procs)
        }
        grace = None
        while len(results) < n and watching:
            timeout = None if grace is None else max(0.0, grace - time.monotonic())
            ready = wait_for(list(watching), timeout)
            if not ready:
                break
            conns_first = sorted(ready, key=lambda o: o not in conns)
            for obj in conns_first:
                rank = watching.pop(obj, None)
                if rank is None:
                    continue
                if obj in conns:
                    try:
                        msg = pickle.loads(obj.recv_bytes())
                    except EOFError:
                        continue  # died without a word: its sentinel tells how
                    if msg[0] == "ok":
                        results[rank] = msg[1]
                    else:
                        failures.append((1 if msg[1] == "raise" else 2, rank, "failed", msg[2], 1))
                        watching = {o: r for o, r in watching.items() if r != rank}
                else:
                    procs[rank].join(5.0)
                    code = procs[rank].exitcode
                    if code != 0 and rank not in results:
                        failures.append((0, rank, _exit_text(code), "", code))
                        watching = {o: r for o, r in watching.items() if r != rank}
            if failures and grace is None:
                grace = time.monotonic() + 0.5  # let the cause's own report arrive
        if failures:
            _, rank, what, detail, code = min(failures, key=lambda f: (f[0], f[1]))
            others = sorted({f[1] for f in failures} - {rank})
            also = f" (then stage(s) {others} failed too)" if others else ""
            message = f"stage {rank} of {n} ({config.schedule}) {what}{also}"
            raise StageFailed(f"{message}:\n{detail}" if detail else message, rank, code)
        missing = sorted(set(range(n)) - set(results))
        if missing:
            raise StageFailed(
                f"stage {missing[0]} of {n} ({config.schedule}) exited without a result",
                missing[0],
            )
        for p in procs:  # they have sent their results and are exiting
            p.join(10.0)
        return [results[r] for r in range(n)]
    finally:
        _stop(procs)
        for c in conns:
            c.close()


def under_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def torchrun(program, n: int, config: Config, data: Dataset) -> list | None:
    """This process is one rank of ``torchrun``: run its stage, gather the payloads on rank 0
    (through a gloo group, whatever the backend), return them there and None elsewhere."""
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    if world != n:
        raise ValueError(
            f"torchrun started {world} processes; schedule {config.schedule!r} with "
            f"K={config.K} needs {n}"
        )
    timeout = timedelta(seconds=config.timeout_s)
    dist.init_process_group(config.backend, timeout=timeout)
    try:
        payload = program(rank, n, config, data)
        group = None if config.backend == "gloo" else dist.new_group(backend="gloo")
        out = [None] * n if rank == 0 else None
        dist.gather_object(payload, out, dst=0, group=group)
        return out
    finally:
        dist.destroy_process_group()
