"""Where networks run: ``--device`` resolved to a torch device, tensors brought back to the host, and
batch sizes that fill the device.

``meta`` is accepted as a placement check when ``OHLORA_PLACEMENT_CHECK=1`` (the tests set it; it is
not offered in ``--help``, and what it stores is zeros): every network op then runs
shape-only on PyTorch's meta device, and any tensor a stage built on the CPU and fed to a network
raises, exactly as it would on a GPU; values brought back to the host are zeros.  The tests run the
stages that way, so a CPU tensor reaching a CUDA model is caught without a GPU.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import numpy as np
import torch

from ohlora_cli.config import DEVICE_HELP
from ohlora_cli.errors import UsageError
from ohlora_cli.threads import sample_workers

T = TypeVar("T")

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def local_rank() -> int | None:
    """torchrun's LOCAL_RANK (this process's GPU on its machine), or None outside torchrun."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None and value.isdigit() else None


def _source(name: str) -> str:
    """How the user asked for ``name``: the environment variable when it holds that value."""
    return f"OHLORA_DEVICE={name}" if os.environ.get("OHLORA_DEVICE") == name else f"--device {name}"


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; under torchrun, ``auto``
    and ``cuda`` take the GPU of LOCAL_RANK."""
    name = (name or "auto").strip()
    if name == "meta" and os.environ.get("OHLORA_PLACEMENT_CHECK") == "1":
        return torch.device("meta")
    if name == "cpu":
        return torch.device("cpu")
    m = _CUDA.match(name)
    if name != "auto" and m is None:
        raise UsageError(f"{_source(name)} is not a device", f"Use one of: {DEVICE_HELP}")
    available = torch.cuda.is_available()
    if name == "auto" and not available:
        return torch.device("cpu")
    if not available:
        raise UsageError(f"{_source(name)} was asked for but no CUDA device is available", "Use --device cpu or auto")
    count = torch.cuda.device_count()
    index = int(m[1]) if m is not None and m[1] is not None else (local_rank() or 0)
    if index >= count:
        raise UsageError(f"{_source(name)}: CUDA device {index} does not exist ({count} present)",
                         f"Use cuda:0 .. cuda:{count - 1}")
    return torch.device("cuda", index)


def to_host(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as a numpy array on the host (zeros of its shape for a meta tensor)."""
    t = t.detach()
    if t.is_meta:
        return np.zeros(tuple(t.shape), dtype=torch.empty((), dtype=t.dtype).numpy().dtype)
    return t.cpu().numpy()


def to_cpu(module: torch.nn.Module) -> torch.nn.Module:
    """The module on the CPU (for saving); a placement check's meta module gets uninitialised storage."""
    if any(p.is_meta for p in module.parameters()):
        return module.to_empty(device="cpu")
    return module.cpu()


def default_batch_size(device: torch.device, *, cpu: int, cuda: int) -> int:
    """The batch a stage uses when ``--batch-size`` is not given: small on the CPU, GPU-filling on CUDA."""
    return cuda if device.type == "cuda" else cpu


def cpu_parallel(fn: Callable[[int], T], count: int, device: torch.device | str,
                 done: Callable[[int, T], None] | None = None) -> list[T]:
    """``[fn(0), …, fn(count - 1)]``; ``done(i, result)`` after each, in order.

    On the CPU each call runs on one intra-op thread and up to the command's thread count
    (``threads.sample_workers``) of them at once, on worker threads (torch releases the GIL inside its
    kernels).  Fixed-size pieces of work (a sample, a padded chunk of images) on independent threads
    never wait for each other at a kernel's barrier, which is what costs most beside other jobs (a
    team of OpenMP threads waits at every kernel for its slowest member); and since every piece runs on
    one thread, its bits do not depend on the thread count.  Elsewhere (CUDA, meta) the calls run in
    turn.  Grad mode is off in the workers (inference only).
    """
    results: list[T] = []
    if torch.device(device).type != "cpu":
        for i in range(count):
            results.append(fn(i))
            if done is not None:
                done(i, results[-1])
        return results
    workers = max(1, min(sample_workers() or torch.get_num_threads(), count))

    def one(i: int) -> T:
        with torch.no_grad():  # grad mode is per thread
            return fn(i)

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ohlora-cpu") if workers > 1 else None
    try:
        outputs = pool.map(one, range(count)) if pool is not None else map(one, range(count))
        for i, out in enumerate(outputs):
            results.append(out)
            if done is not None:
                done(i, out)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(previous)
    return results
