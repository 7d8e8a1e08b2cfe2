"""``synthesize(cfg)``: the `datagen synth` arrow as a plain function.

1. Plan every row (product code, category, which title draw it keeps): the draws are computed by the worker
   pool, the choice between them in row order here.
2. Split all rows with ``assign_split_indices`` on (product_code, category3_code); cut them into blocks
   (``blocks.FilePlan``), whose files are the same whoever writes them.
3. Render this job's rows in the pool (chunks in order, a bounded number in flight; each row from its own
   seeded generator, so the bytes do not depend on the worker count) and stream them into their files
   (``sink.BlockSink``): memory does not grow with the rows.

Without ``--shard`` everything goes into a temporary sibling of ``--out`` (``DatasetWriter``), renamed at the
end. With ``--shard I/N`` the job writes its blocks' files straight into ``--out``, which all N jobs share
(``shards.ShardJob``), and `datagen synth-merge` (``merge.merge_shards``) finishes the dataset.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from contracts.dataset import layout
from contracts.dataset.split import assign_split_indices
from contracts.dataset.writer import DatasetWriter, check_output_dir, row_values, sidecar_line
from contracts.errors import UserError
from contracts.outputs import remove_leftovers
from datagen import __version__
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.config import SynthConfig
from datagen.render.product import encode_jpeg, render_product
from datagen.synth.blocks import FilePlan
from datagen.synth.card import GENERATOR, build_info, render_card
from datagen.synth.oracle import oracle_answer
from datagen.synth.plan import chunk_candidates, plan_rows
from datagen.synth.sample import build_row, sample_latent, sample_latents
from datagen.synth.shards import ShardJob
from datagen.synth.sink import BlockSink

CHUNK_ROWS = 32
IN_FLIGHT = 4  # chunks per worker queued or being rendered: enough to keep every worker busy
ORACLE_KEY = layout.ORACLE_KEY

# what a worker returns per row: index, split index, the 17 values, the JPEG (parquet layout; the imagefolder
# layout's worker writes it itself), the JPEG's size, the latents record serialised
Done = tuple[int, int, tuple, bytes | None, int, str]


def load_profile(cfg: SynthConfig) -> CatalogueProfile:
    """The profile named by ``--profile`` (or the built-in one), with ``--eur-rate`` applied."""
    profile = CatalogueProfile.load(cfg.profile) if cfg.profile else builtin_profile()
    if cfg.eur_rate is not None:
        data = profile.to_dict()
        data["eur_rate"] = cfg.eur_rate
        profile = CatalogueProfile.from_dict(data, source="profile")
    return profile


def render_row(
    profile: CatalogueProfile, seed: int, index: int, attempts: int, size: int, latent: dict | None = None
) -> tuple[dict, dict, bytes]:
    """Everything about one row: its 17 columns, its sidecar record (the latent attributes and the oracle's
    answer, ``ORACLE_KEY``) and its JPEG bytes (``latent``: the row's, sampled already)."""
    latent = sample_latent(profile, seed, index, attempts) if latent is None else latent
    image = encode_jpeg(render_product(latent, profile, size))
    return build_row(latent, profile), {**latent, ORACLE_KEY: oracle_answer(latent, profile)}, image


class _Job:
    """What every row of a run needs besides its index: profile, seed, size, layout, where images go."""

    def __init__(self, profile: CatalogueProfile, seed: int, size: int, fmt: str, root: Path) -> None:
        self.profile, self.seed, self.size, self.fmt, self.root = profile, seed, size, fmt, root

    def make_row(self, index: int, attempts: int, split: int, latent: dict | None = None) -> Done:
        row, latent, image = render_row(self.profile, self.seed, index, attempts, self.size, latent)
        values = row_values(row)
        if self.fmt == layout.IMAGEFOLDER:  # written here, in the worker: the main process only collects
            (self.root / layout.SPLITS[split] / layout.image_name(row["product_code"])).write_bytes(image)
            return index, split, values, None, len(image), sidecar_line(latent)
        return index, split, values, image, len(image), sidecar_line(latent)

    def render(self, chunk: tuple[int, bytes, bytes]) -> list[Done]:
        start, attempts, splits = chunk
        latents = sample_latents(self.profile, self.seed, start, list(attempts))
        return [
            self.make_row(start + k, a, s, latent)
            for k, (a, s, latent) in enumerate(zip(attempts, splits, latents, strict=True))
        ]

    def candidates(self, rows: range) -> list:
        return chunk_candidates(self.profile, self.seed, rows)


# --- worker pool -------------------------------------------------------------------------------------------
_WORKER: dict = {}


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def usable_workers(requested: int) -> tuple[int, str | None]:
    """Rendering processes for ``--workers requested`` (0: one per core), capped at the cores available;
    and a note saying so when the cap applied."""
    cores = available_cores()
    if requested > cores:
        return cores, f"--workers {requested}: using {cores}, the CPU cores available"
    return requested or cores, None


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel end this worker when its parent dies, even by ``kill -9``: an orphaned
    worker would otherwise go on rendering into a folder nobody will collect."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def _init_worker(profile_data: dict, seed: int, size: int, fmt: str, root: str, parent: int) -> None:
    # Ctrl-C and SIGTERM are the main process's to handle (it stops the pool and the writer removes its temp
    # dir); a worker ignores Ctrl-C and dies quietly on the SIGTERM the pool's shutdown sends it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    _WORKER["job"] = _Job(CatalogueProfile.from_dict(profile_data), seed, size, fmt, Path(root))


def _render_chunk(chunk: tuple[int, bytes, bytes]) -> list[Done]:
    return _WORKER["job"].render(chunk)


def _candidate_chunk(rows: range) -> list:
    return _WORKER["job"].candidates(rows)


class _Pool:
    """The worker processes (none for one worker), with ordered, bounded mapping over them."""

    def __init__(self, job: _Job, workers: int) -> None:
        self.job, self.workers, self.pool = job, workers, None
        if workers > 1:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            args = (job.profile.to_dict(), job.seed, job.size, job.fmt, str(job.root), os.getpid())
            self.pool = mp.get_context(method).Pool(workers, _init_worker, args)

    def map(self, local: Callable, remote: Callable, items: Iterable) -> Iterator:
        """``local(item)`` for each item, in order: in the workers (``remote``) with at most ``IN_FLIGHT``
        items per worker queued, so neither the tasks nor the results pile up."""
        if self.pool is None:
            yield from map(local, items)
            return
        pending: deque = deque()
        for item in items:
            pending.append(self.pool.apply_async(remote, (item,)))
            if len(pending) >= IN_FLIGHT * self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        # stop the workers before the writer may remove the folder they write into
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _chunks(rows: range, attempts: np.ndarray, splits: np.ndarray) -> Iterator[tuple[int, bytes, bytes]]:
    for start in range(rows.start, rows.stop, CHUNK_ROWS):
        stop = min(rows.stop, start + CHUNK_ROWS)
        yield start, attempts[start:stop].tobytes(), splits[start:stop].tobytes()


def _progress(total: int, quiet: bool) -> Callable[[int], None] | None:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", desc="synth", leave=False, file=sys.stderr)
    return bar.update


def _profile_bytes(profile: CatalogueProfile) -> bytes:
    return (json.dumps(profile.to_dict(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _run_identity(cfg: SynthConfig, profile: CatalogueProfile) -> dict:
    """What every job of one sharded run shares (``shards.RUN_KEYS``)."""
    args = build_info(cfg.content_args(), profile, {}, {}, [])["args"]
    return {
        "generator": GENERATOR,
        "version": __version__,
        "format": cfg.layout,
        "args": args,
        "profile": {"name": profile.name, "fingerprint": profile.fingerprint},
    }


def _write_rows(
    cfg: SynthConfig,
    job: _Job,
    pool: _Pool,
    progress: Callable[[int], None] | None,
    shard: tuple[int, int] | None,
) -> tuple[BlockSink, FilePlan, range]:
    """Plan, split and write this job's rows; return (sink, file plan, job's blocks)."""
    profile = job.profile
    plan = plan_rows(
        profile, cfg.seed, cfg.rows, lambda chunks: pool.map(job.candidates, _candidate_chunk, chunks)
    )
    splits = assign_split_indices(plan.codes, plan.category3(profile), cfg.seed)
    files = FilePlan.make(splits, cfg.block_rows)
    blocks = files.job_blocks(*shard) if shard else range(files.blocks)
    rows = files.job_rows(*shard) if shard else range(cfg.rows)
    for b in blocks:  # what a killed run of this job left
        names = [files.latents_file(b)] + [
            files.data_file(s, b) for s in range(len(layout.SPLITS)) if files.counts[b, s]
        ]
        for name in names:
            remove_leftovers(job.root / name)
    if job.fmt == layout.IMAGEFOLDER:
        for s in np.unique(splits[rows.start : rows.stop]).tolist():
            (job.root / layout.SPLITS[s]).mkdir(exist_ok=True)
    update = progress or _progress(len(rows), cfg.quiet)
    sink = BlockSink(job.root, job.fmt, files, shard)
    try:
        chunks = _chunks(rows, plan.attempts, splits)
        with contextlib.closing(pool.map(job.render, _render_chunk, chunks)) as done:
            for results in done:
                for row in results:
                    sink.add(*row)
                if update:
                    update(len(results))
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return sink, files, blocks


# --- the arrow ---------------------------------------------------------------------------------------------
def synthesize(cfg: SynthConfig, progress: Callable[[int], None] | None = None) -> Path:
    """Generate the DATASET dir described by ``cfg`` (or, with ``--shard``, one job's part of it); return
    its path.

    Raises:
        UserError: a bad output dir, profile or argument (one line naming the fix).
    """
    if not cfg.out:
        raise UserError("--out is required: the DATASET dir to write")
    if cfg.shard:
        index, count = cfg.shard_spec
        profile = load_profile(cfg)
        target = ShardJob(cfg.out, index, count, _run_identity(cfg, profile), overwrite=cfg.overwrite)
        shard: tuple[int, int] | None = (index, count)
    else:
        check_output_dir(cfg.out, cfg.overwrite)  # fail before any work
        profile = load_profile(cfg)
        target, shard = DatasetWriter(cfg.out, overwrite=cfg.overwrite), None
    workers, _ = usable_workers(cfg.workers)
    with target:
        root = target.out if shard else target.tmp_dir
        job = _Job(profile, cfg.seed, cfg.image_size, cfg.layout, root)
        pool = _Pool(job, workers)
        try:
            sink, files, blocks = _write_rows(cfg, job, pool, progress, shard)
        finally:
            pool.close()
        if shard:
            rows = files.job_rows(*shard)
            manifest = {
                "shard": {
                    "index": shard[0],
                    "count": shard[1],
                    "blocks": [blocks.start, blocks.stop],
                    "rows": [rows.start, rows.stop],
                },
                "split_counts": files.split_counts(blocks),
                "split_bytes": sink.split_bytes,
                "files": sink.records,
                "parts": sink.parts,
            }
            try:
                target.finish(manifest, _profile_bytes(profile))
            except BaseException:
                sink.abort()
                raise
            return target.out
        target.add_extra_file(layout.PROFILE_FILE, _profile_bytes(profile))
        counts = files.split_counts()
        info = build_info(cfg.content_args(), profile, counts, sink.split_bytes, sink.records)
        return target.finish(info, render_card(info))


def merge_shards(data_dir: str | Path) -> tuple[Path, int, bool]:
    """See ``datagen.synth.merge.merge_shards``."""
    from datagen.synth.merge import merge_shards as merge

    return merge(data_dir)


__all__ = ["synthesize", "merge_shards", "render_row", "load_profile"]
