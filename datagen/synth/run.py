"""``synthesize(cfg)``: the `datagen synth` arrow as a plain function, and ``merge_shards`` for sharded runs.

1. Plan every row (product code, category3, title draw) in one cheap sequential pass: no rendering.
2. Split all rows with ``assign_splits`` on (product_code, category3_code).
3. Render this shard's rows in a process pool (ordered chunks; each row from its own seeded generator, so the
   bytes do not depend on the worker count) and stream them into a ``DatasetWriter``.

Sharding: ``--shard I/N`` writes the I-th contiguous block of rows as a complete DATASET dir with the splits
of the whole run. ``merge_shards`` joins the N dirs into one that is byte-identical to the unsharded run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from contracts.dataset import layout
from contracts.dataset.split import assign_splits
from contracts.dataset.writer import DatasetWriter, PreparedRow, check_output_dir, prepare_row, sidecar_line
from contracts.errors import UserError
from datagen import __version__
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.config import SynthConfig
from datagen.render.product import encode_jpeg, render_product
from datagen.synth.card import GENERATOR, render_card, synth_command
from datagen.synth.oracle import oracle_answer
from datagen.synth.sample import build_row, plan_rows, sample_latent

CHUNK_ROWS = 32
ORACLE_KEY = layout.ORACLE_KEY

Work = tuple[int, int, str]  # row index, attribute draws (from the plan), split
Done = tuple[str, PreparedRow, str]  # split, the prepared metadata row, the latent's sidecar line


def load_profile(cfg: SynthConfig) -> CatalogueProfile:
    """The profile named by ``--profile`` (or the built-in one), with ``--eur-rate`` applied."""
    profile = CatalogueProfile.load(cfg.profile) if cfg.profile else builtin_profile()
    if cfg.eur_rate is not None:
        data = profile.to_dict()
        data["eur_rate"] = cfg.eur_rate
        profile = CatalogueProfile.from_dict(data, source="profile")
    return profile


def render_row(
    profile: CatalogueProfile, seed: int, index: int, attempts: int, size: int
) -> tuple[dict, dict, bytes]:
    """Everything about one row: its 17 columns, its sidecar record (the latent attributes and the oracle's
    answer, ``ORACLE_KEY``) and its JPEG bytes."""
    latent = sample_latent(profile, seed, index, attempts)
    image = encode_jpeg(render_product(latent, profile, size))
    return build_row(latent, profile), {**latent, ORACLE_KEY: oracle_answer(latent, profile)}, image


def _make_row(profile: CatalogueProfile, seed: int, size: int, tmp: Path, work: Work) -> Done:
    """Render one row and write its image straight into the writer's temporary split folder."""
    index, attempts, split = work
    row, latent, image = render_row(profile, seed, index, attempts, size)
    prepared = prepare_row(row)
    (tmp / split / prepared.file_name).write_bytes(image)
    return split, prepared, sidecar_line(latent)


# --- worker pool: workers render, encode and write images; the main process only collects metadata lines
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


def _init_worker(profile_data: dict, seed: int, size: int, tmp: str, parent: int) -> None:
    # Ctrl-C and SIGTERM are the main process's to handle (it stops the pool and the writer removes its temp
    # dir); a worker ignores Ctrl-C and dies quietly on the SIGTERM the pool's shutdown sends it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    _WORKER.update(profile=CatalogueProfile.from_dict(profile_data), seed=seed, size=size, tmp=Path(tmp))


def _render_chunk(chunk: Sequence[Work]) -> list[Done]:
    w = _WORKER
    return [_make_row(w["profile"], w["seed"], w["size"], w["tmp"], item) for item in chunk]


def _render_all(
    profile: CatalogueProfile, seed: int, size: int, tmp: Path, work: list[Work], workers: int
) -> Iterator[Done]:
    if workers <= 1 or len(work) <= CHUNK_ROWS:
        for item in work:
            yield _make_row(profile, seed, size, tmp, item)
        return
    chunks = [work[i : i + CHUNK_ROWS] for i in range(0, len(work), CHUNK_ROWS)]
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    init_args = (profile.to_dict(), seed, size, str(tmp), os.getpid())
    pool = mp.get_context(method).Pool(workers, _init_worker, init_args)
    try:
        for results in pool.imap(_render_chunk, chunks):  # ordered: rows reach the writer in row order
            yield from results
        pool.close()
    finally:
        # stop the workers before the writer may remove the folder they write into
        pool.terminate()
        pool.join()


def _progress(total: int, quiet: bool) -> Callable[[int], None] | None:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", desc="synth", leave=False, file=sys.stderr)
    return bar.update


# --- info and card -----------------------------------------------------------------------------------------
def build_info(cfg: SynthConfig, profile: CatalogueProfile, split_counts: dict[str, int]) -> dict:
    """dataset_info.json: generator, version, seed, content arguments, counts, command, shard."""
    args = cfg.content_args()
    if args["profile"]:
        args["profile"] = layout.PROFILE_FILE  # the copy inside the dataset, not a path on this machine
    info = {
        "generator": GENERATOR,
        "version": __version__,
        "seed": cfg.seed,
        "args": args,
        "rows": sum(split_counts.values()),
        "split_counts": {s: split_counts.get(s, 0) for s in layout.SPLITS},
        "command": synth_command(args, cfg.shard),
        "profile": {"name": profile.name, "fingerprint": profile.fingerprint},
        "price_noise": profile.price_noise,
        "eur_rate": profile.eur_rate,
        "image": {"format": "JPEG", "size": [cfg.image_size, cfg.image_size]},
        "files": {"latents": layout.LATENTS_FILE, "profile": layout.PROFILE_FILE},
        "shard": None,
    }
    if cfg.shard:
        i, n = cfg.shard_spec
        block = cfg.shard_rows()
        info["shard"] = {"index": i, "count": n, "start": block.start, "stop": block.stop}
    return info


def _profile_bytes(profile: CatalogueProfile) -> bytes:
    return (json.dumps(profile.to_dict(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# --- the arrow ---------------------------------------------------------------------------------------------
def synthesize(cfg: SynthConfig, progress: Callable[[int], None] | None = None) -> Path:
    """Generate the DATASET dir described by ``cfg`` and return its path.

    Raises:
        UserError: a bad output dir, profile or argument (one line naming the fix).
    """
    if not cfg.out:
        raise UserError("--out is required: the DATASET dir to write")
    check_output_dir(cfg.out, cfg.overwrite)  # fail before any work
    profile = load_profile(cfg)
    plan = plan_rows(profile, cfg.seed, cfg.rows)
    splits = assign_splits(plan.codes, plan.category3, cfg.seed)
    rows = cfg.shard_rows()
    work = [(i, plan.attempts[i], splits[i]) for i in rows]
    workers, _ = usable_workers(cfg.workers)
    update = progress or _progress(len(work), cfg.quiet)

    with DatasetWriter(cfg.out, overwrite=cfg.overwrite) as writer:
        for split in sorted({item[2] for item in work}):
            writer.split_dir(split)
        # closing() stops the pool before the writer's cleanup runs, also on errors and Ctrl-C
        with contextlib.closing(
            _render_all(profile, cfg.seed, cfg.image_size, writer.tmp_dir, work, workers)
        ) as done:
            for split, prepared, latent_line in done:
                writer.add_prepared(split, prepared)
                writer.add_sidecar_line(layout.LATENTS_FILE, prepared.code, latent_line)
                if update:
                    update(1)
        writer.add_extra_file(layout.PROFILE_FILE, _profile_bytes(profile))
        info = build_info(cfg, profile, writer.split_counts())
        return writer.finish(info, render_card(info))


def merge_shards(shard_dirs: Iterable[str | Path], out: str | Path, overwrite: bool = False) -> Path:
    """Join the N shard dirs of one sharded run into the dataset the unsharded run would have written.

    Raises:
        UserError: a dir is not a shard, shards come from different runs, or one is missing or repeated.
    """
    from contracts.dataset.reader import read_info
    from contracts.dataset.writer import read_metadata_records

    dirs = [Path(d) for d in shard_dirs]
    if not dirs:
        raise UserError("give the shard dirs to merge: datagen synth-merge --out DIR SHARD_DIR...")
    infos = [read_info(d) for d in dirs]
    for d, info in zip(dirs, infos, strict=True):
        if info.get("generator") != GENERATOR or not info.get("shard"):
            raise UserError(f"{d} is not a shard written by `datagen synth --shard I/N`")
    first = infos[0]
    for d, info in zip(dirs, infos, strict=True):
        if any(info[k] != first[k] for k in ("args", "version", "profile")):
            raise UserError(
                f"{d} comes from another run than {dirs[0]} (arguments differ): merge shards of one run"
            )
    count = first["shard"]["count"]
    indices = sorted(info["shard"]["index"] for info in infos)
    if indices != list(range(1, count + 1)):
        raise UserError(f"need each of shards 1..{count} exactly once, got {indices}")

    args = dict(first["args"])
    profile_data = json.loads((dirs[0] / layout.PROFILE_FILE).read_text(encoding="utf-8"))
    profile = CatalogueProfile.from_dict(profile_data, source=str(dirs[0] / layout.PROFILE_FILE))
    cfg = SynthConfig(out=str(out), overwrite=overwrite, **{k: v for k, v in args.items()})
    with DatasetWriter(out, overwrite=overwrite) as writer:
        for d in sorted(dirs, key=lambda p: str(p)):
            for split in layout.SPLITS:
                meta = d / split / layout.METADATA_FILE
                if not meta.is_file():
                    continue
                for record in read_metadata_records(meta):
                    image = (d / split / record["file_name"]).read_bytes()
                    writer.add(split, {k: v for k, v in record.items() if k != "file_name"}, image)
            latents = d / layout.LATENTS_FILE
            for line in latents.read_text(encoding="utf-8").splitlines():
                latent = json.loads(line)
                writer.add_sidecar_record(layout.LATENTS_FILE, latent["product_code"], latent)
        writer.add_extra_file(layout.PROFILE_FILE, _profile_bytes(profile))
        info = build_info(cfg, profile, writer.split_counts())
        info["args"] = args
        info["command"] = synth_command(args)
        return writer.finish(info, render_card(info))


__all__ = ["synthesize", "merge_shards", "render_row", "load_profile", "build_info"]
