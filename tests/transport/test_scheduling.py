"""How the kernel schedules the gateway's threads (`thread_scheduling`).

By default every thread runs under SCHED_BATCH, so a thread woken by a flush does not
preempt the one holding the store's write lock (docs/PERFORMANCE.md); `normal` leaves
the kernel's default. The niceness the gateway was started with is kept either way.
Threads are read from /proc while the gateway serves, after requests have made it
start the threads that run them."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

SCHED_OTHER = 0
SCHED_BATCH = 3


def _threads(pid: int) -> List[Tuple[str, int, int]]:
    """(name, niceness, policy) of each thread of a process."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended while we looked
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 1:].split()
        # Fields are numbered from 1 and the list starts at field 3 (proc_pid_stat(5)).
        found.append((name, int(fields[19 - 3]), int(fields[41 - 3])))
    return found


def _serve_some_requests(gw) -> None:
    """Concurrent API requests, so the gateway starts the threads that run them."""
    def create(i: int) -> int:
        return gw.request("POST", "/v1/customers", gw.secret_key,
                          data={"email": f"sched-{i}@example.com"}).status_code
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(32)))
    assert statuses == [200] * 32, statuses


def test_every_thread_is_batch_by_default_and_keeps_its_niceness(procs):
    gw = procs.gateway(name="sched-batch", nice=3)
    _serve_some_requests(gw)
    threads = _threads(gw.proc.pid)
    expected_nice = os.nice(0) + 3
    assert len(threads) >= 4, threads
    assert all(policy == SCHED_BATCH for _, _, policy in threads), threads
    assert all(nice == expected_nice for _, nice, _ in threads), threads


def test_normal_leaves_the_kernels_default(procs):
    gw = procs.gateway({"TESSERA_THREAD_SCHEDULING": "normal"}, name="sched-normal")
    _serve_some_requests(gw)
    threads = _threads(gw.proc.pid)
    assert len(threads) >= 4, threads
    assert all(policy == SCHED_OTHER for _, _, policy in threads), threads
    assert all(nice == os.nice(0) for _, nice, _ in threads), threads


def test_an_unknown_value_is_refused_by_name(procs):
    gw = procs.gateway({"TESSERA_THREAD_SCHEDULING": "fifo"}, name="sched-bad", wait=False)
    code = gw.wait_exit(30)
    assert code not in (None, 0), gw.logs_tail()
    assert "thread_scheduling 'fifo' must be 'batch' or 'normal'" in gw.stderr_text(), gw.logs_tail()

