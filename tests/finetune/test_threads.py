"""How many CPU threads a training process takes when --threads is 0."""

import os

import pytest

from finetune import distributed as dist


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n: int, idle: float | None, local_world: str | None = None):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
        monkeypatch.setattr(dist, "idle_cores", lambda window_s=0.25: idle)
        if local_world is None:
            monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
        else:
            monkeypatch.setenv("LOCAL_WORLD_SIZE", local_world)

    return set_cores


def test_requested_threads_win(cores):
    cores(2, 0.0)
    assert dist.cpu_threads(3, dist.Processes()) == 3


def test_idle_cores_are_used(cores):
    cores(2, 1.95)
    assert dist.cpu_threads(0, dist.Processes()) == 2


def test_busy_cores_are_not_counted(cores):
    cores(2, 1.1)  # another job holds one core
    assert dist.cpu_threads(0, dist.Processes()) == 1
    cores(2, 0.0)
    assert dist.cpu_threads(0, dist.Processes()) == 1


def test_capped_and_shared_among_local_processes(cores):
    cores(64, 64.0)
    assert dist.cpu_threads(0, dist.Processes()) == dist.AUTO_THREADS_CAP
    cores(2, 2.0, local_world="2")
    assert dist.cpu_threads(0, dist.Processes(world_size=2)) == 1


def test_unreadable_load_falls_back_to_the_cores(cores):
    cores(2, None)
    assert dist.cpu_threads(0, dist.Processes()) == 2


def test_idle_cores_reads_this_machine():
    idle = dist.idle_cores(0.05)
    if idle is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= idle <= (os.cpu_count() or 1) + 0.01
