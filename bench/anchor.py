"""Timing helpers shared by the benchmarks: each splatcore timing (pytest-benchmark)
is reported beside an anchor library timed on the same inputs in the same run."""
import statistics
import time
import timeit

import splatcore as sc


def best_seconds(fn, repeat=5):
    """Best of `repeat` single calls after one warm-up call."""
    fn()
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def median_seconds(fn, sync, reps=20, warmup=3):
    """Median wall time of `reps` calls of fn, each followed by sync() (a device
    wait: GPU work is asynchronous), after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report_ratio(benchmark, name, anchor, anchor_s):
    """Stores and prints anchor time / splatcore time (> 1: splatcore is faster)."""
    ours = benchmark.stats.stats.min
    ratio = anchor_s / ours
    benchmark.extra_info.update(anchor=anchor, anchor_s=anchor_s, splatcore_s=ours,
                                ratio_vs_anchor=ratio, threads=sc.num_threads())
    print(f"\n{name}: splatcore {ours * 1e3:.2f} ms, {anchor} {anchor_s * 1e3:.2f} ms, "
          f"ratio ({anchor}/splatcore) {ratio:.2f}x  [{sc.num_threads()} threads]")
    return ratio
