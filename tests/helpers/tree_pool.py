"""Test helper for tests/tree_mode.rs: a busy multiprocessing.Pool(2).

    python3 tree_pool.py START_METHOD

Starts a pool of 2 workers with the start method given (fork, spawn or
forkserver), has both do some work, then gives each a long task (as a
worker busy with a job is when its parent gets killed), prints "ready" and
waits to be killed. An idle worker notices its parent's death by itself
(end of file on the task pipe); a busy one does not.
"""
import multiprocessing
import os
import sys
import time


def work(_):
    time.sleep(0.01)
    return os.getpid()


def busy(_):
    time.sleep(600)


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        pids = set(pool.map(work, range(40), chunksize=1))
        pending = pool.map_async(busy, range(2), chunksize=1)
        time.sleep(0.3)
        print("ready", flush=True)
        time.sleep(600)
