"""Checkpoints written off the training loop: what lands is the moment of the save, in
order, and a failed write is raised, not lost."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from glassnet.engine.checkpoint import (
    BackgroundWrites,
    checkpoint_files,
    load_checkpoint,
    write_checkpoint,
)


def test_a_checkpoint_holds_the_moment_of_the_save_not_of_the_write(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), fused=True)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    files = checkpoint_files(net=net, optimizer=opt, scheduler=sched, state={"global_step": 7})
    release = threading.Event()
    writes = BackgroundWrites()

    def write_later() -> None:
        release.wait(5)
        write_checkpoint(tmp_path, 7, files)

    writes.submit(write_later)
    with torch.no_grad():  # training goes on while the write waits
        for p in net.parameters():
            p.add_(1.0)
        net(torch.randn(4, 3))
    release.set()
    writes.close()
    on_disk = load_file(tmp_path / "step-000000007" / "weights.safetensors")
    assert all(torch.equal(on_disk[k], saved[k]) for k in saved)
    restored = load_checkpoint(tmp_path, net=net, optimizer=opt, scheduler=sched)
    assert restored.state == {"global_step": 7}
    assert all(torch.equal(net.state_dict()[k], saved[k]) for k in saved)


def test_jobs_run_in_order_and_a_failed_write_is_raised_at_the_next_call() -> None:
    done: list[int] = []
    writes = BackgroundWrites()
    for i in range(5):
        writes.submit(done.append, i)
    writes.wait()
    assert done == [0, 1, 2, 3, 4]

    def disk_full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    writes.submit(disk_full)
    with pytest.raises(OSError, match="No space left"):
        writes.submit(done.append, 5)  # the next save learns of it, and is not queued
    assert done == [0, 1, 2, 3, 4]
    writes.submit(disk_full)
    with pytest.raises(OSError, match="No space left"):
        writes.close()
    writes.close()  # closing twice is harmless
