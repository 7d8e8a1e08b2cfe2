"""Speed and memory of `datagen synth`, end to end (interpreter start included); prints a table.

    python -m benchmarks.synth_speed                    # 3,040 rows, then 100,000 rows with --workers 2
    python -m benchmarks.synth_speed --skip-large       # only the 3,040-row run
    python -m benchmarks.synth_speed --large-rows 20000

Goals: 3,040 rows in <= 10 s on a 2-core machine; 100,000 rows at >= 500 rows/s with --workers 2
and a peak resident memory, summed over all processes, under 1 GiB and flat in the row count. The load
average is printed too: the machine may be shared, and figures taken under load are slower than the code.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (psutil if present, else /proc)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total
    except ImportError:
        pass
    except Exception:  # the process ended between the calls
        return 0
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(stat[1])
            rss[int(entry.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in family)


def run(rows: int, workers: int, image_size: int, out: Path) -> dict:
    """Run `datagen synth` as a user would; sample the process tree's memory every 50 ms."""
    datagen = shutil.which("datagen", path=str(Path(sys.executable).parent)) or "datagen"
    cmd = [
        datagen,
        "synth",
        "--rows",
        str(rows),
        "--out",
        str(out),
        "--seed",
        "0",
        "--image-size",
        str(image_size),
        "--overwrite",
        "--quiet",
    ]
    if workers:
        cmd += ["--workers", str(workers)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = 0
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        rss = _tree_rss(proc.pid)
        peak = max(peak, rss)
        samples.append((time.perf_counter() - start, rss))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of datagen and its workers (waited-for descendants): what the run costs on an idle machine
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"datagen synth failed with exit code {proc.returncode}")
    # memory growth between the first and last third of the run: ~0 when memory is flat in rows
    third = [rss for t, rss in samples if wall / 3 <= t <= 2 * wall / 3]
    last = [rss for t, rss in samples if t > 2 * wall / 3]
    growth = (max(last) - max(third)) if third and last else 0
    return {
        "rows": rows,
        "workers": workers or os.cpu_count(),
        "wall_s": wall,
        "cpu_s": cpu,
        "rows_per_s": rows / wall,
        "peak_rss_mib": peak / 2**20,
        "growth_mib": growth / 2**20,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small-rows", type=int, default=3040)
    parser.add_argument("--large-rows", type=int, default=100_000)
    parser.add_argument(
        "--workers", type=int, default=2, help="workers for the large run (small run: default)"
    )
    parser.add_argument("--image-size", type=int, default=336)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated datasets")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    results = []
    try:
        results.append(
            (f"{args.small_rows:,} rows, end to end", run(args.small_rows, 0, args.image_size, tmp / "small"))
        )
        if not args.skip_large:
            label = f"{args.large_rows:,} rows, --workers {args.workers}"
            results.append((label, run(args.large_rows, args.workers, args.image_size, tmp / "large")))
        _print_table(results, args.image_size)
    finally:
        if not args.keep:  # after printing: removing 100,000 files takes a while
            shutil.rmtree(tmp, ignore_errors=True)


def _print_table(results: list[tuple[str, dict]], image_size: int) -> None:

    print(f"cpu cores: {os.cpu_count()}   image size: {image_size}")
    header = (
        f"{'case':32} {'rows':>8} {'workers':>7} {'wall s':>8} {'CPU s':>7} {'rows/s':>8} "
        f"{'peak RSS MiB':>12} {'growth MiB':>10} {'load 1m':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, r in results:
        print(
            f"{label:32} {r['rows']:>8} {r['workers']:>7} {r['wall_s']:>8.2f} {r['cpu_s']:>7.1f} "
            f"{r['rows_per_s']:>8.0f} "
            f"{r['peak_rss_mib']:>12.0f} {r['growth_mib']:>10.0f} "
            f"{r['load_before']:>5.1f}->{r['load_after']:<4.1f}"
        )


if __name__ == "__main__":
    main()
