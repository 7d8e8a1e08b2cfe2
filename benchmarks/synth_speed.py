"""Speed and memory of `datagen synth` at scale, end to end (interpreter start included); prints a table.

    python -m benchmarks.synth_speed                          # 3,040 rows; 20,000 rows; streaming; merge
    python -m benchmarks.synth_speed --rows 20000 --rows 1000000 --skip-small    # the scale goals
    python -m benchmarks.synth_speed --small-rows 60 --skip-large --image-size 64  # a quick look

Cases:

- ``3,040 rows``: the real dataset's size, default workers and layout (goal: <= 10 s on 2 cores).
- ``--rows N`` (repeatable; default 20,000): `datagen synth --rows N --workers W --format F` at
  ``--image-size``. Goals (2 cores, 336 px, parquet): >= 1,000 rows/s per core on 20,000 rows; 1,000,000
  rows in under 9 minutes; peak memory within 25% between 20,000 and 1,000,000 rows.
- ``streaming``: ``datasets.load_dataset(DIR, streaming=True)`` until the first train row, on the largest
  parquet run, in a fresh interpreter (goal: < 2 s; the import of ``datasets`` is shown apart).
- ``merge``: ``--merge-shards`` jobs of `datagen synth --shard I/N` (in-process, one worker each, at
  ``--merge-image-size``) into one dir per ``--merge-rows``, then `datagen synth-merge` (goal: 100 shards
  in < 10 s whatever their size).

Memory is sampled every 50 ms over the whole process tree: RSS summed (counts pages forked workers share
with the parent once per process) and PSS summed (each shared page split between its sharers: the memory
the run really takes). Per core: rows / wall time / workers; CPU ms a row: user + system time of datagen
and its workers, which a busy machine inflates much less than wall time. The load average is printed: the
machine may be shared, and figures taken under load are slower than the code.
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

GOALS = {"rows_per_s_per_core": 1000, "million_rows_s": 9 * 60, "memory_growth": 0.25, "stream_s": 2.0}


def _tree(pid: int) -> list[int]:
    """The pids of a process and all its descendants (psutil if present, else /proc)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return [pid, *(p.pid for p in proc.children(recursive=True))]
    except ImportError:
        pass
    except Exception:  # the process ended between the calls
        return []
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    return sorted(family)


def _memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in bytes summed over ``pids``, from /proc/PID/smaps_rollup (0 where unreadable)."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


def _datagen() -> str:
    return shutil.which("datagen", path=str(Path(sys.executable).parent)) or "datagen"


def run(rows: int, workers: int, image_size: int, out: Path, fmt: str = "auto") -> dict:
    """Run `datagen synth` as a user would; sample the process tree's memory every 50 ms."""
    cmd = [_datagen(), "synth", "--rows", str(rows), "--out", str(out), "--seed", "0"]
    cmd += ["--image-size", str(image_size), "--format", fmt, "--overwrite", "--quiet"]
    if workers:
        cmd += ["--workers", str(workers)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_rss = peak_pss = 0
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        rss, pss = _memory(_tree(proc.pid))
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        samples.append((time.perf_counter() - start, pss))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of datagen and its workers (waited-for descendants): what the run costs on an idle machine
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"datagen synth failed with exit code {proc.returncode}")
    # memory growth between the middle and the last third of the run: ~0 when memory is flat in rows
    third = [m for t, m in samples if wall / 3 <= t <= 2 * wall / 3]
    last = [m for t, m in samples if t > 2 * wall / 3]
    growth = (max(last) - max(third)) if third and last else 0
    used = workers or os.cpu_count() or 1
    return {
        "rows": rows,
        "workers": used,
        "format": fmt,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_row": 1000 * cpu / rows,
        "rows_per_s": rows / wall,
        "rows_per_s_per_core": rows / wall / used,
        "peak_rss_mib": peak_rss / 2**20,
        "peak_pss_mib": peak_pss / 2**20,
        "growth_mib": growth / 2**20,
        "disk_gib": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**30,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


_STREAM = """
import importlib.util, sys, time
t0 = time.perf_counter()
import datasets
if importlib.util.find_spec("torch"):
    import torch  # datasets imports it for its streaming datasets wherever it is installed
t1 = time.perf_counter()
ds = datasets.load_dataset(sys.argv[1], streaming=True)
row = next(iter(ds["train"]))
t2 = time.perf_counter()
assert row["image"].size[0] > 0 and row["product_code"] > 0
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def first_streamed_row(data_dir: Path) -> tuple[float, float]:
    """(seconds to import datasets and torch, seconds from load_dataset(DIR, streaming=True) to the first
    train row), in a fresh interpreter with the hub offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _STREAM, str(data_dir)], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def merge_case(rows: int, shards: int, image_size: int, fmt: str, out: Path) -> dict:
    """``shards`` jobs of one run into ``out`` (in this process, one worker each), then the merge as a user
    runs it; returns the jobs' and the merge's wall time."""
    from datagen.config import SynthConfig
    from datagen.synth.run import synthesize

    per_file = max(1, -(-rows // shards))  # one block a job
    start = time.perf_counter()
    for i in range(1, shards + 1):
        cfg = SynthConfig(
            out=str(out), rows=rows, image_size=image_size, format=fmt, rows_per_file=per_file,
            shard=f"{i}/{shards}", workers=1, quiet=True,
        )  # fmt: skip
        synthesize(cfg)
    jobs = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([_datagen(), "synth-merge", str(out)], check=True, capture_output=True)
    merge = time.perf_counter() - start
    return {"rows": rows, "shards": shards, "format": fmt, "jobs_s": jobs, "merge_s": merge}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small-rows", type=int, default=3040)
    parser.add_argument("--rows", type=int, action="append", help="rows of a scale run (repeatable)")
    parser.add_argument("--large-rows", type=int, dest="rows", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help="workers of the scale runs")
    parser.add_argument("--image-size", type=int, default=336)
    parser.add_argument("--format", default="parquet", help="layout of the scale runs")
    parser.add_argument("--merge-shards", type=int, default=100)
    parser.add_argument("--merge-rows", type=int, action="append", help="rows of a merge case (repeatable)")
    parser.add_argument("--merge-image-size", type=int, default=64)
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--skip-large", action="store_true", help="no scale runs (nor streaming)")
    parser.add_argument("--skip-merge", action="store_true")
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated datasets")
    args = parser.parse_args()
    sizes = [] if args.skip_large else (args.rows or [20_000])

    base = args.workdir or Path(tempfile.mkdtemp(prefix="synth-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict]] = []
    try:
        if not args.skip_small:
            label = f"{args.small_rows:,} rows, end to end"
            results.append((label, run(args.small_rows, 0, args.image_size, base / "small")))
        for rows in sizes:
            label = f"{rows:,} rows, {args.format}"
            results.append((label, run(rows, args.workers, args.image_size, base / f"r{rows}", args.format)))
            if rows != sizes[-1] and not args.keep:
                shutil.rmtree(base / f"r{rows}", ignore_errors=True)
        _print_table(results, args.image_size)
        if sizes and args.format == "parquet":
            imported, first = first_streamed_row(base / f"r{sizes[-1]}")
            print(
                f"\nstreaming: load_dataset(DIR, streaming=True) to the first row of {sizes[-1]:,} rows: "
                f"{first:.2f} s (goal < {GOALS['stream_s']:g} s), after importing datasets and torch "
                f"({imported:.2f} s; datasets imports torch for streaming where it is installed)"
            )
        if not args.skip_merge:
            print()
            for rows in args.merge_rows or [20_000]:
                for fmt in ("parquet", "imagefolder"):
                    out = base / f"merge-{fmt}-{rows}"
                    m = merge_case(rows, args.merge_shards, args.merge_image_size, fmt, out)
                    print(
                        f"merge: {m['shards']} shards of {rows:,} rows ({fmt}, {args.merge_image_size} px): "
                        f"jobs {m['jobs_s']:.1f} s, synth-merge {m['merge_s']:.2f} s"
                    )
                    shutil.rmtree(out, ignore_errors=True)
        _print_goals(results, args.image_size)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


def _print_table(results: list[tuple[str, dict]], image_size: int) -> None:
    print(f"cpu cores: {os.cpu_count()}   image size: {image_size}")
    header = (
        f"{'case':28} {'rows':>9} {'wkrs':>4} {'wall s':>8} {'CPU s':>8} {'CPU ms/row':>10} {'rows/s':>7} "
        f"{'/core':>6} {'RSS MiB':>8} {'PSS MiB':>8} {'growth':>6} {'GiB':>6} {'load 1m':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, r in results:
        print(
            f"{label:28} {r['rows']:>9} {r['workers']:>4} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
            f"{r['cpu_ms_per_row']:>10.3f} {r['rows_per_s']:>7.0f} {r['rows_per_s_per_core']:>6.0f} "
            f"{r['peak_rss_mib']:>8.0f} {r['peak_pss_mib']:>8.0f} {r['growth_mib']:>6.0f} "
            f"{r['disk_gib']:>6.2f} {r['load_before']:>5.1f}->{r['load_after']:<4.1f}"
        )


def _print_goals(results: list[tuple[str, dict]], image_size: int) -> None:
    scale = [r for label, r in results if "end to end" not in label]
    if not scale:
        return
    print(f"\ngoals ({image_size} px):")
    for r in scale:
        print(
            f"  {r['rows']:>9,} rows: {r['rows_per_s_per_core']:.0f} rows/s per core by wall time, "
            f"{1000 / r['cpu_ms_per_row']:.0f} rows per CPU-second (goal >= {GOALS['rows_per_s_per_core']})"
        )
        if r["rows"] >= 1_000_000:
            print(f"  {r['rows']:>9,} rows in {r['wall_s']:.0f} s (goal < {GOALS['million_rows_s']} s)")
    if len(scale) > 1:
        small, large = scale[0], scale[-1]
        for key in ("peak_pss_mib", "peak_rss_mib"):
            change = large[key] / small[key] - 1
            print(
                f"  peak {key[5:8].upper()} {large['rows']:,} vs {small['rows']:,} rows: {change:+.0%} "
                f"(goal within {GOALS['memory_growth']:.0%})"
            )


if __name__ == "__main__":
    main()
