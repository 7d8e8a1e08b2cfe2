"""Speed of `evaluate --model openai:NAME` against a local endpoint, and of a fully cached rerun.

    python -m benchmarks.endpoint_speed          # synthesizes 3,040 rows (64 px): a 304-row test split
    python -m benchmarks.endpoint_speed --data out/data --delay-ms 50 --concurrency 16 --json out/ep.json

A local OpenAI-compatible server (``benchmarks.local_endpoint``, a process of its own) answers every request
after ``--delay-ms``. Three runs of the whole arrow, each into a report (W&B off, 1,000 bootstrap resamples,
no baselines):

1. ``evaluate`` with an empty response cache: every row is one request, ``--concurrency`` in flight.
   ``rows/s`` is rows over the time the endpoint system took to answer them all (goal: >= 150 rows/s at
   50 ms and concurrency 16, i.e. half the 320 rows/s the latency allows).
2. the same in process again, every answer from the cache (goal: scoring and report in under 3 s).
3. the same as a fresh ``evaluate`` command (a new Python process: imports included).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evaluation.config import EvalConfig
from evaluation.run import evaluate

RATE_GOAL = 150.0
CACHED_GOAL_S = 3.0


def _dataset(args: argparse.Namespace, tmp: Path) -> str:
    if args.data:
        return args.data
    from datagen.config import SynthConfig
    from datagen.synth.run import synthesize

    out = tmp / "data"
    synthesize(SynthConfig(rows=args.rows, out=str(out), image_size=args.image_size, seed=0, quiet=True))
    return str(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_endpoint(port: int, delay_ms: float) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.local_endpoint",
        "--port",
        str(port),
        "--delay-ms",
        str(delay_ms),
    ]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit(f"the local endpoint did not start: {server.stderr.read().decode()[-400:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="DATASET dir (default: synthesize one)")
    parser.add_argument("--rows", type=int, default=3040, help="rows to synthesize (test split about 10%%)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the endpoint's time per answer")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    port = _free_port()
    server = _start_endpoint(port, args.delay_ms)
    try:
        with tempfile.TemporaryDirectory(prefix="endpoint-speed-") as tmp_name:
            tmp = Path(tmp_name)
            data = _dataset(args, tmp)
            url = f"http://127.0.0.1:{port}/v1"
            settings = {"model": ("openai:fake-vlm",), "data": data, "base_url": url, "quiet": True,
                        "concurrency": args.concurrency, "baselines": "none", "wandb": "off",
                        "cache_dir": str(tmp / "cache"), "report": str(tmp / "report")}  # fmt: skip
            start = time.perf_counter()
            first = evaluate(EvalConfig(**settings)).document
            first_total = time.perf_counter() - start
            system = first["systems"][0]
            rate = first["n"] / system["speed"]["seconds"]
            start, cpu_start = time.perf_counter(), time.process_time()
            cached = evaluate(EvalConfig(**settings, overwrite=True)).document
            cached_total, cached_cpu = time.perf_counter() - start, time.process_time() - cpu_start
            assert cached["systems"][0]["speed"]["requests"] == 0, "the rerun asked the endpoint again"
            argv = [str(Path(sys.executable).parent / "evaluate"), "--model", "openai:fake-vlm",
                    "--data", data, "--base-url", url, "--baselines", "none", "--no-wandb", "--quiet",
                    "--cache-dir", settings["cache_dir"], "--report", settings["report"],
                    "--overwrite"]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            command_total = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=10)
    load = os.getloadavg()[0]  # other work on the machine slows every figure but the CPU seconds
    figures = {
        "rows": first["n"],
        "delay_ms": args.delay_ms,
        "concurrency": args.concurrency,
        "answer_s": system["speed"]["seconds"],
        "rows_per_s": rate,
        "first_run_total_s": first_total,
        "cached_run_total_s": cached_total,
        "cached_run_cpu_s": cached_cpu,
        "cached_command_total_s": command_total,
        "cpus": os.cpu_count(),
        "load_average_1min": load,
    }
    print(f"evaluate --model openai:fake-vlm, {first['n']} rows, endpoint answering in {args.delay_ms:.0f} "
          f"ms, --concurrency {args.concurrency}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}")  # fmt: skip
    print(
        f"  answering, empty cache:     {system['speed']['seconds']:6.2f} s  {rate:7.1f} rows/s  "
        f"(goal >= {RATE_GOAL:.0f}: {'yes' if rate >= RATE_GOAL else 'NO'}); whole run {first_total:.2f} s"
    )
    print(
        f"  rerun, all from the cache:  {cached_total:6.2f} s in process "
        f"(goal < {CACHED_GOAL_S:.0f} s: {'yes' if cached_total < CACHED_GOAL_S else 'NO'}; "
        f"{cached_cpu:.2f} s of CPU); "
        f"{command_total:.2f} s as a new evaluate command, imports included"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
