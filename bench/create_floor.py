#!/usr/bin/env python3
"""The file-system floor for the batch benchmark: create COUNT files of SIZE bytes in folders of
100, each as a temporary file renamed into place (as `convert -o` writes), on 2 processes, into
a fresh folder DIR. Prints the wall time and the CPU time of the two workers.

Usage: bench/create_floor.py DIR COUNT SIZE
"""
import multiprocessing as mp
import os
import sys
import time


def create(args):
    root, count, size, part = args
    data = b"x" * size
    for i in range(part, count, 2):
        folder = os.path.join(root, f"group-{i // 100:03d}")
        os.makedirs(folder, exist_ok=True)
        final = os.path.join(folder, f"svc-{i:05d}.nomad.hcl")
        temporary = os.path.join(folder, f".svc-{i:05d}.nomad.hcl.tmp")
        with open(temporary, "wb") as f:
            f.write(data)
        os.rename(temporary, final)


if __name__ == "__main__":
    root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start, cpu = time.time(), os.times()
    with mp.Pool(2) as pool:
        pool.map(create, [(root, count, size, part) for part in (0, 1)])
    wall, after = time.time() - start, os.times()
    user = after.children_user - cpu.children_user
    system = after.children_system - cpu.children_system
    print(f"created {count} files in {wall:.2f} s wall, workers' CPU {user:.2f} u + {system:.2f} s")
