"""Small helpers shared by the Python benchmarks: a median timer and a plain-text table."""
import statistics
import time


def timeit(fn, repeat=7, warmup=2):
    """Median wall time of fn() in seconds over `repeat` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def print_table(headers, rows):
    """Print rows (lists of str/number) under headers, columns right-aligned."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c:.3g}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
