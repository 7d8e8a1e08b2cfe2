"""The fine-tuning recipe: ``train(cfg) -> TrainResult``.

Read top to bottom: claim the RUN dir, read and encode the data, build the model (full, LoRA or QLoRA), then
run optimizer steps. Each step takes ``grad_accum`` micro-batches; the loss is summed over answer tokens and
divided by the answer tokens of the whole global batch (all micro-batches, all processes), so any split of a
global batch over processes and accumulation gives the same gradient. Validation, checkpoints and the best
model come at intervals; Ctrl-C / SIGTERM end the step, write a checkpoint and return. The parts live in their
own modules: data, collate, lora, checkpoint, tracking, distributed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from contracts import run_layout as names
from contracts.errors import UserError
from contracts.outputs import write_files_atomically, write_json_atomically
from contracts.task import answer_parts_of
from contracts.tracking import resolve_wandb_mode
from finetune import checkpoint as ckpt
from finetune import data, kernels, memory_fit, validation
from finetune import distributed as dist
from finetune.collate import collate_examples
from finetune.config import VAL_LOSS, TrainConfig, resolve
from finetune.data import encode_splits
from finetune.ema import WeightAverage
from finetune.encoder_warmup import EncoderWarmup, WarmupResult, build_targets, global_views
from finetune.export import export_model, finalize_best
from finetune.flops import peak_flops
from finetune.loss import answer_loss_sum
from finetune.model import build_model, check_method
from finetune.optim import build_optimizer, build_scheduler
from finetune.progress import Progress
from finetune.recipe import recipe_text
from finetune.settings import decide
from finetune.tracking import WARMUP_SPLIT, Tracker, up_to_step, up_to_warmup_epoch
from phi3v.processing import IGNORE_INDEX

OOM_HINT = (
    "out of GPU memory: try a smaller --batch-size with a larger --grad-accum, --gradient-checkpointing, "
    "a smaller --num-crops, or --method qlora"
)


@dataclass
class TrainResult:
    """What a run did; the CLI prints it as the summary."""

    run_dir: Path
    steps: int
    total_steps: int
    epochs: float
    train_loss: float | None
    final_val_loss: float | None
    best_val_loss: float | None  # the validation loss of the validation RUN/best keeps
    best_step: int | None
    wall_s: float
    train_s: float
    samples_per_s: float
    tokens_per_s: float
    peak_memory_gb: float | None = None
    mfu: float | None = None
    interrupted: str | None = None  # the signal's name when stopped early
    cpu_threads: int | None = None  # torch threads of a CPU run
    encoder_warmup_s: float | None = None  # time spent warming up the image encoder (part of wall_s)
    encoder_val_accuracy: float | None = None  # the warm-up head's category accuracy on the validation split
    stopped_in_warmup: tuple[int, int] | None = None  # (epoch, batch) where a signal stopped the warm-up
    replacing: bool = False  # an --overwrite run: the run it replaces stays in run_dir until it finishes
    best_metric: str = VAL_LOSS  # what RUN/best keeps (--best-metric)
    best_value: float | None = None  # its value at best_step
    final_metrics: dict[str, float | None] = dataclasses.field(default_factory=dict)  # the last answers'


def train(cfg: TrainConfig, given: Collection[str] | None = None) -> TrainResult:
    """Fine-tune as ``cfg`` says; see the module docstring.

    ``given``: the fields the user gave (the CLI's flags), which on ``--resume`` must agree with the saved
    run (``settings.decide``); None, a library call: the fields whose value is not its recipe's.

    Raises:
        UserError: bad data, occupied RUN, impossible method, a NaN loss, running out of GPU memory.
    """
    procs, threads = dist.start_processes(), torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if procs.device.type == "cpu":
        # Several CPU threads otherwise sum some gradients in a varying order (the same command twice gave
        # other weights after 20 steps); the deterministic kernels cost no measurable speed on the CPU.
        torch.use_deterministic_algorithms(True, warn_only=True)
    recipe = None
    try:
        recipe = _Recipe(cfg, procs, given)
        return recipe.run()
    except torch.cuda.OutOfMemoryError:
        raise UserError(OOM_HINT) from None
    finally:
        if recipe is not None:
            recipe.close()
        dist.stop_processes(procs)
        torch.set_num_threads(threads)  # the run may have changed it
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


WARMUP_SAVES = 8  # checkpoints over a whole encoder warm-up (besides one on a signal and one at its end)


class _Recipe:
    def __init__(self, cfg: TrainConfig, procs: dist.Processes, given: Collection[str] | None) -> None:
        self.procs = procs
        self.started = time.perf_counter()
        self.claim: ckpt.RunClaim | None = None
        # Everything a user can get wrong is checked before the RUN dir is touched.
        self.frames = data.read_training_splits(cfg.data)
        if cfg.fsdp and not (procs.distributed and procs.device.type == "cuda"):
            raise UserError(
                f"--fsdp shards a model across GPUs (several CUDA processes under torchrun); this run has "
                f"{procs.world_size} process{'es' if procs.world_size > 1 else ''} on {procs.device.type}: "
                "drop --fsdp"
            )
        if not cfg.resume:
            check_method(resolve(cfg))
        # where the run ends up; it writes into ``run``, a replacement beside it under --overwrite
        run = self.final_dir = Path(cfg.out).expanduser().absolute()
        saved = None
        if procs.is_main:  # the main process claims the dir; the others read what it decided
            self.claim = ckpt.claim_run_dir(cfg.out, resume=cfg.resume, overwrite=cfg.overwrite)
            run, saved = self.claim.run, self.claim.saved
        try:
            procs.barrier()
            if not procs.is_main:
                run = ckpt.run_being_written(run, resume=cfg.resume)
            if cfg.resume and not procs.is_main:
                saved = ckpt.read_json(run / names.CONFIG_FILE)
            if cfg.resume and (run / names.MODEL_DIR).is_dir():
                raise UserError(
                    f"--resume: the run in {run} has finished ({names.MODEL_DIR}/ is written): nothing to do"
                )
            flags = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
            self.cfg = decide(flags, recipe=cfg.recipe, given=given, saved=saved["train"] if saved else None)
            check_method(self.cfg)
        except BaseException:
            if self.claim is not None:
                self.claim.failed()
            self.close()
            raise
        self.run_dir = run
        self.stop_signal: str | None = None
        self.warmup: WarmupResult | None = None
        self.stopped_in_warmup: tuple[int, int] | None = None
        self.talk = procs.is_main and not self.cfg.quiet  # progress and notes on stderr

    def close(self) -> None:
        """Release the RUN dir and drop the model and its optimizer. Under DDP the wrapper's reducer must go
        while the process group still stands: freed after it, its last reference tears the group down on a
        thread that holds the GIL, which gloo's worker threads may be waiting for (a hang at exit)."""
        if self.claim is not None:
            self.claim.release()
        for name in ("wrapped", "model", "optimizer", "scheduler", "ema", "prefetch"):
            if hasattr(self, name):
                setattr(self, name, None)

    # -- setup -------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Everything a run needs before it trains: data encoded, model built, RUN recorded, tracker open.
        A failure here is a failed start (``run`` removes what it wrote)."""
        cfg, procs, frames = self.cfg, self.procs, self.frames
        if cfg.threads or procs.device.type == "cpu":
            torch.set_num_threads(dist.cpu_threads(cfg.threads, procs))
        dataset = data.dataset_record(cfg.data, frames)
        if procs.is_main:
            self._record_run(dataset)
        # where a --resume goes on: a fine-tuning checkpoint, else the encoder warm-up's, else the start
        self.resume_from = ckpt.latest_checkpoint(self.run_dir) if cfg.resume else None
        warmups = ckpt.list_warmup_checkpoints(self.run_dir) if cfg.resume and cfg.encoder_warmup else []
        self.warmup_from = warmups[-1] if warmups and self.resume_from is None else None
        # a run that goes on from a checkpoint keeps the split it recorded; one that has trained nothing fits
        fits = cfg.fit_memory and self.resume_from is None and self.warmup_from is None
        memory = memory_fit.device_memory(procs.device) if fits else None
        # the fit decides checkpointing, and only ever turns it on: the model starts without it
        built = dataclasses.replace(cfg, gradient_checkpointing=False) if memory else cfg
        self.model, self.processor, self.flops = build_model(built, frames[data.TRAIN], procs.device)
        default_fsdp = cfg.method == "full" and self.flops.params > 1e9
        self.fsdp = procs.distributed and (bool(cfg.fsdp) if cfg.fsdp is not None else default_fsdp)
        for line in kernels.speed_up(self.model, cfg.kernels, cfg.compile, procs.device):
            if self.talk:
                self._note(line)
        self.train_set, self.val_set = encode_splits(
            cfg, self.run_dir, frames, self.processor, dataset, procs
        )
        if memory is not None:
            self.fit_to_memory(memory)
            cfg = self.cfg
        self.val_frame = frames[data.VALIDATION]
        # splits without kept pixels: their images are transformed by background threads, batches made ahead
        lazy = not (self.train_set.keeps_pixels and self.val_set.keeps_pixels)
        self.workers = data.background_workers(procs.world_size) if lazy else 0
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="images") if lazy else None
        self.prefetch: data.Prefetcher | None = None
        self.plan = data.LengthGroupedBatches(
            self.train_set.lengths,
            cfg.batch_size,
            seed=cfg.seed,
            grad_accum=cfg.grad_accum,
            world_size=procs.world_size,
            rank=procs.rank,
        )
        self.steps_per_epoch = per_epoch = len(self.plan)
        self.total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
        self.eval_every = cfg.eval_every or per_epoch
        self.save_every = cfg.save_every or self.eval_every
        keep = None
        if self.resume_from is not None:
            keep = up_to_step(names.checkpoint_step(self.resume_from) or 0)
        elif self.warmup_from is not None:
            keep = up_to_warmup_epoch(names.warmup_checkpoint_position(self.warmup_from)[0])
        elif cfg.resume:
            keep = up_to_step(-1)
        self.tracker = Tracker(
            self.run_dir,
            config=ckpt.read_json(self.run_dir / names.CONFIG_FILE) if procs.is_main else {},
            wandb_mode=resolve_wandb_mode(cfg.wandb),
            project=cfg.wandb_project,
            active=procs.is_main,
            keep=keep,
        )

    def warm_up(self) -> bool:
        """Train the image encoder alone (``--encoder-warmup``), or finish a warm-up a resumed run stopped
        in. Returns False when a signal stopped it; its state is then saved for ``--resume``."""
        cfg, procs, frames = self.cfg, self.procs, self.frames
        if self.resume_from is not None or not cfg.encoder_warmup:
            return True
        warmup = EncoderWarmup(
            self.model.model.vision_embed_tokens,
            global_views(self.train_set),
            build_targets(answer_parts_of(frames[data.TRAIN])),
            epochs=cfg.encoder_warmup,
            seed=cfg.seed,
            device=procs.device,
            val_views=global_views(self.val_set),
            val_categories=[a.category for a in answer_parts_of(frames[data.VALIDATION])],
        )
        if self.warmup_from is not None:
            saved = ckpt.load_warmup_checkpoint(self.warmup_from)
            warmup.load_state_dict(saved.tensors, saved.states, saved.plain)
            ckpt.restore_rng(saved.rng, saved.plain["rng"])
            if self.talk and not warmup.done:
                self._note(
                    f"resuming the encoder warm-up at epoch {warmup.epoch + 1}/{warmup.epochs}, batch "
                    f"{warmup.batch_index + 1}/{warmup.per_epoch} ({self.warmup_from.name})"
                )
        finished_before = warmup.done
        every = max(1, warmup.epochs // WARMUP_SAVES)
        bar = Progress(
            total=warmup.epochs, initial=warmup.epoch, desc="encoder warm-up", unit="epoch", enabled=self.talk
        )

        def save() -> None:
            if procs.is_main:
                ckpt.save_warmup_checkpoint(self.run_dir, *warmup.state_dict())
            procs.barrier()

        def on_epoch(epoch: int, loss: float) -> None:
            bar.advance()
            bar.say(f"loss {loss:.4f} ({warmup.seconds:.0f} s)")
            if epoch < warmup.epochs:
                self.tracker.log({"step": 0, "split": WARMUP_SPLIT, "epoch": epoch, "loss": loss})
                if epoch % every == 0:
                    save()

        try:
            result = warmup.run(
                should_stop=lambda: procs.any(self.stop_signal is not None), on_epoch=on_epoch
            )
        finally:
            bar.close()
        if result is None:
            save()
            self.stopped_in_warmup = (warmup.epoch, warmup.batch_index)
            return False
        if not finished_before:  # (a resumed run whose warm-up had finished logged and saved all this)
            self.tracker.log(
                {
                    "step": 0,
                    "split": WARMUP_SPLIT,
                    "epoch": warmup.epochs,
                    "loss": warmup.losses[-1],
                    "seconds": result.seconds,
                    "train_accuracy": result.train_accuracy,
                    "val_accuracy": result.val_accuracy,
                }  # fmt: skip
            )
            save()  # the whole warm-up, so a run stopped before its first checkpoint does not redo it
        self.warmup = result
        return True

    def fit_to_memory(self, memory: memory_fit.CudaMemory) -> None:
        """``--fit-memory`` (``memory_fit.fit_to_memory``): its micro-batch, accumulation and checkpointing
        replace the recipe's in ``self.cfg`` and RUN records them: ``--resume`` from a checkpoint continues
        with them, probing nothing."""
        self.cfg, line = memory_fit.fit_to_memory(
            self.model,
            self.train_set,
            self.cfg,
            memory,
            batch=lambda indices: self._batch(indices, epoch=0),
            loss_sum=self._loss_sum,
            fsdp=self.fsdp,
            procs=self.procs,
        )
        if self.procs.is_main:
            self._write_config()
        if self.talk:
            self._note(line)

    def setup_training(self) -> None:
        cfg, procs = self.cfg, self.procs
        self.wrapped = dist.wrap_model(
            self.model, procs, fsdp=self.fsdp, layer_classes=self.flops.layer_classes
        )
        if cfg.ema and dist.is_fsdp(self.wrapped):
            raise UserError("--ema does not work with FSDP's sharded weights: drop --ema, or pass --no-fsdp")
        self.ema = WeightAverage(dist.unwrap(self.wrapped), cfg.ema) if cfg.ema else None
        self.optimizer = build_optimizer(self.wrapped, cfg, procs.device)
        # The first step starts from no gradients whatever ran before (a stage, the memory probes): a resumed
        # run starts that way, so an uninterrupted one must too.
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.total_steps)
        self.step, self.best = 0, validation.Best(cfg.best_metric)
        self.best_loss: float | None = None  # the validation loss of the validation RUN/best holds
        self.model_flops = 0.0
        self.last_val: float | None = None
        self.last_metrics: dict[str, float | None] = {}
        answered = None  # the rows a resumed run answered: it answers the same ones
        if self.resume_from is not None:
            answered = self._restore(ckpt.load_checkpoint(self.resume_from))
            if self.talk:
                self._note(f"resuming from step {self.step}/{self.total_steps} ({self.resume_from.name})")
        else:
            torch.manual_seed(cfg.seed)
        self.answering, line = validation.answering(
            cfg, self.val_frame, self.frames[data.TRAIN], self.processor, files=answered
        )
        if self.fsdp and self.answering is not None:
            # the answers are decoded by the main process alone, which under FSDP holds a shard of the weights
            if cfg.best_metric != VAL_LOSS:
                raise UserError(
                    f"--best-metric {cfg.best_metric} needs validation answers, which FSDP's sharded weights "
                    "cannot give: keep --best-metric val_loss, or pass --no-fsdp"
                )
            self.answering, line = None, "validation answers are skipped under FSDP (the loss is kept)"
        if line and self.talk:
            self._note(line)

    def _note(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def _record_run(self, dataset: dict) -> None:
        cfg = self.cfg
        path = self.run_dir / names.DATASET_FILE
        if cfg.resume and path.is_file():
            before = ckpt.read_json(path)
            if before.get("fingerprint") != dataset["fingerprint"]:
                raise UserError(
                    f"--resume: {cfg.data} is not the dataset this run started on (fingerprint changed): "
                    f"pass --data {before.get('path')} or start a new run"
                )
        self._write_config()
        write_json_atomically(path, dataset)

    def _write_config(self) -> None:
        """RUN/config.json and RUN/recipe.yaml: the resolved config (again, once ``fit_memory`` chose)."""
        write_json_atomically(self.run_dir / names.CONFIG_FILE, ckpt.run_record(self.cfg))
        write_files_atomically({self.run_dir / names.RECIPE_FILE: recipe_text(self.cfg).encode("utf-8")})

    def _restore(self, saved: ckpt.Checkpoint) -> list[str] | None:
        """The checkpoint's state back in place; returns the validation rows its run answered."""
        dist.load_trainable_state(self.wrapped, saved.trainable)
        dist.load_optimizer_state(self.wrapped, self.optimizer, saved.optimizer)
        self.scheduler.load_state_dict(saved.scheduler)
        if self.ema is not None:
            if saved.ema is None:
                raise UserError(f"checkpoint {saved.path} holds no weight average for --ema: start a new run")
            self.ema.load_state_dict(saved.ema)
        ckpt.restore_rng(saved.rng, saved.state["rng"])
        self.step = saved.step
        self.best = validation.Best.from_state(self.cfg.best_metric, saved.state)
        self.best_loss = saved.state.get("best_val_loss")
        self.last_val = saved.state.get("last_val_loss")
        self.last_metrics = saved.state.get("last_metrics") or {}
        return saved.state.get("answered")

    # -- one optimizer step ------------------------------------------------------------------------------

    def _batch(self, indices: list[int], epoch: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        examples = data.training_examples(
            self.train_set,
            indices,
            seed=cfg.seed,
            epoch=epoch,
            crop=self.processor.image_processor.crop_size,
            mirror=bool(cfg.mirror),
        )
        batch = collate_examples(examples, self.processor.pad_token_id)
        if self.procs.device.type == "cuda":  # page-locked: the copy to the GPU runs without the host waiting
            batch = {k: v.pin_memory() for k, v in batch.items()}
        return batch

    def _loss_sum(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = self.procs.device
        return answer_loss_sum(model, batch, device, self.cfg.computes_in_bf16(device.type))

    def _step_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """This process's micro-batches of optimizer step ``step``."""
        epoch, micro = self.plan.micro_batches(step)
        return [self._batch(ix, epoch) for ix in micro]

    def _examples(self, split: data.EncodedSplit, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        if split.keeps_pixels or self.pool is None:
            return [split[i] for i in indices]
        return list(self.pool.map(split.__getitem__, indices))  # images transformed in parallel

    def train_step(self) -> tuple[float, int, int]:
        """One optimizer step; returns (mean loss per answer token of the global batch, samples, tokens)."""
        batches = self.prefetch.get(self.step) if self.prefetch else self._step_batches(self.step)
        global_tokens = self.procs.sum(sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches))
        self.wrapped.train()
        loss_total = torch.zeros((), device=self.procs.device)
        for i, batch in enumerate(batches):
            with dist.no_sync(self.wrapped, skip=i < len(batches) - 1):
                loss_sum = self._loss_sum(self.wrapped, batch)
                # DDP averages gradients over processes, hence the world_size factor
                (loss_sum * (self.procs.world_size / global_tokens)).backward()
            loss_total += loss_sum.detach()  # summed on the device: one host read per step, below
        loss = self.procs.sum(float(loss_total)) / global_tokens
        if not math.isfinite(loss):
            last = ckpt.latest_checkpoint(self.run_dir)
            raise UserError(
                f"the loss became {loss} at step {self.step + 1}; last good checkpoint: {last or 'none'}: "
                "lower --lr (or raise --warmup-steps) and --resume, or start again"
            )
        if self.cfg.max_grad_norm > 0:
            clip = getattr(self.wrapped, "clip_grad_norm_", None)  # FSDP clips its shards itself
            params = [p for p in self.wrapped.parameters() if p.requires_grad]
            clip(self.cfg.max_grad_norm) if clip else nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.step)
        samples = sum(b["input_ids"].shape[0] for b in batches)
        tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        if self.procs.device.type == "cuda":  # MFU is reported for GPUs only
            crop = self.processor.image_processor.crop_size
            self.model_flops += sum(self.flops.batch(b, crop) for b in batches)
        return loss, samples, tokens

    # -- validation, checkpoints -------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss per answer token over the validation split (shared among processes)."""
        self.wrapped.eval()
        n = min(len(self.val_set), self.cfg.max_val_examples or len(self.val_set))
        order = sorted(
            range(self.procs.rank, n, self.procs.world_size), key=lambda i: self.val_set.lengths[i]
        )
        total, tokens = 0.0, 0
        for start in range(0, len(order), self.cfg.batch_size):
            batch = collate_examples(
                self._examples(self.val_set, order[start : start + self.cfg.batch_size]),
                self.processor.pad_token_id,
            )
            total += float(self._loss_sum(self.wrapped, batch))
            tokens += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        return self.procs.sum(total) / max(1.0, self.procs.sum(tokens))

    def _averaged(self):
        """The block sees the weight average of --ema (when on): what validation and exports measure."""
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext()

    def evaluate_and_keep_best(self) -> None:
        with self._averaged():
            self._evaluate_and_keep_best()

    def _evaluate_and_keep_best(self) -> None:
        """The validation loss and, from the main process, the answers to the fixed validation rows and
        their task metrics; RUN/best is replaced when this validation is the best by --best-metric."""
        val = self.validate()
        answers = None
        if self.procs.is_main and self.answering is not None:
            threads = torch.get_num_threads()
            answers = validation.answer(dist.unwrap(self.wrapped), self.processor, self.answering, threads)
        metrics = answers.metrics if answers is not None else {}
        self.last_val, self.last_metrics = val, metrics
        record = {"step": self.step, "split": "validation", "loss": val, "epoch": self._epoch(), **metrics}
        if answers is not None:
            record["answer_s"] = round(answers.seconds, 3)
        self.tracker.log(record)
        value = val if self.cfg.best_metric == VAL_LOSS else metrics.get(self.cfg.best_metric)
        # the main process decides (it alone holds the answers); every process exports together
        better = self.procs.any(self.procs.is_main and self.best.offer(self.step, value))
        if better:
            self.best.step, self.best_loss = self.step, val
            export_model(
                self.wrapped, self.processor, self.run_dir / names.BEST_DIR, self.cfg, self.procs, merge=False
            )
        if answers is not None and self.answering.samples:
            self.tracker.log_samples(self.step, validation.samples(self.answering, answers.texts))

    def save(self) -> None:
        trainable = dist.trainable_state(self.wrapped)
        optim = dist.optimizer_state(self.wrapped, self.optimizer)
        if self.procs.is_main:
            ckpt.save_checkpoint(
                self.run_dir,
                step=self.step,
                trainable=trainable,
                optimizer=optim,
                scheduler=self.scheduler.state_dict(),
                state={
                    "epoch": self._epoch(),
                    "steps_per_epoch": self.steps_per_epoch,
                    "best": self.best.state(),
                    "best_val_loss": self.best_loss,
                    "best_step": self.best.step,
                    "last_val_loss": self.last_val,
                    "last_metrics": self.last_metrics,
                    "answered": self.answering.files if self.answering is not None else None,
                },
                keep_last=self.cfg.keep_last,
                ema=self.ema.state_dict() if self.ema is not None else None,
            )
        self.procs.barrier()

    def _epoch(self) -> float:
        return round(self.step / self.steps_per_epoch, 4)

    # -- the run -----------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame) -> None:
        self.stop_signal = signal.Signals(signum).name

    def run(self) -> TrainResult:
        try:
            self.setup()
        except BaseException:  # a failed or interrupted start leaves nothing behind
            if self.claim is not None:
                self.claim.failed()
            raise
        # From here on a signal is taken at the end of a warm-up batch or an optimizer step, which is
        # checkpointed before the run returns.
        handlers = {}
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not self.warm_up():  # stopped in the warm-up: nothing of fine-tuning ran or is reported
                return self._report(self._stopped_in_warmup())
            self.setup_training()
            result = self._train()
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
        if result.interrupted is None and self.claim is not None:
            self.claim.finish()  # a replacement takes the old run's place only now, whole
        return result

    def _train(self) -> TrainResult:
        cfg, procs = self.cfg, self.procs
        bar = Progress(
            total=self.total_steps, initial=self.step, desc="finetune", unit="step", enabled=self.talk
        )
        samples = tokens = 0
        train_s, window_t, window_samples, first_step = 0.0, time.perf_counter(), 0, self.step
        loss = None
        if procs.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(procs.device)
        if self.pool is not None and not self.train_set.keeps_pixels:
            steps = range(self.step, self.total_steps)
            self.prefetch = data.Prefetcher(self._step_batches, steps, self.pool, ahead=2 * self.workers)
        try:
            while self.step < self.total_steps:
                t0 = time.perf_counter()
                loss, n_samples, n_tokens = self.train_step()
                train_s += time.perf_counter() - t0
                samples, tokens, window_samples = (
                    samples + n_samples,
                    tokens + n_tokens,
                    window_samples + n_samples,
                )
                lr = self.scheduler.get_last_lr()[0]
                bar.advance()
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    rate = procs.sum(window_samples) / max(1e-9, time.perf_counter() - window_t)
                    self.tracker.log(
                        {
                            "step": self.step,
                            "split": "train",
                            "loss": loss,
                            "lr": lr,
                            "epoch": self._epoch(),
                            "samples_per_s": rate,
                        }  # fmt: skip
                    )
                    bar.say(f"epoch {self._epoch():.2f}, loss {loss:.4f}, lr {lr:.2e}, {rate:.1f} samples/s")
                    window_t, window_samples = time.perf_counter(), 0
                if self.step % self.eval_every == 0 or self.step == self.total_steps:
                    self.evaluate_and_keep_best()
                    if self.last_val is not None:
                        bar.note(
                            f"step {self.step}: {validation.progress_text(self.last_val, self.last_metrics)}"
                        )
                stop = procs.any(self.stop_signal is not None)
                ran = self.step - first_step
                if (
                    self.step % self.save_every == 0 or stop or ran == cfg.stop_after
                ) and self.step < self.total_steps:
                    self.save()
                # a stop at the last step finishes the run instead: its export is the shortest way to a
                # whole RUN dir (a stop there used to leave the steps since the last checkpoint to redo)
                if (stop or ran == cfg.stop_after) and self.step < self.total_steps:
                    self.stop_signal = self.stop_signal or ("SIGINT" if stop else "stop-after")
                    break
            else:
                if self.ema is not None:
                    self.ema.copy_to_model()  # the run's result is the average
                export_model(
                    self.wrapped, self.processor, self.run_dir / names.MODEL_DIR, cfg, procs, merge=True
                )
                finalize_best(self.wrapped, self.processor, self.run_dir / names.BEST_DIR, cfg, procs)
                self.stop_signal = None  # a signal at the last step or during the export: the run is whole
        finally:
            bar.close()
            if self.prefetch is not None:
                self.prefetch.cancel()
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        return self._report(self._result(loss, samples, tokens, train_s))

    def _stopped_in_warmup(self) -> TrainResult:
        """What a run stopped in its encoder warm-up did: no optimizer step, no validation."""
        cuda = self.procs.device.type == "cuda"
        return TrainResult(
            run_dir=self.final_dir,
            steps=0,
            total_steps=self.total_steps,
            epochs=0.0,
            train_loss=None,
            final_val_loss=None,
            best_val_loss=None,
            best_step=None,
            wall_s=time.perf_counter() - self.started,
            train_s=0.0,
            samples_per_s=0.0,
            tokens_per_s=0.0,
            peak_memory_gb=torch.cuda.max_memory_allocated(self.procs.device) / 2**30 if cuda else None,
            interrupted=self.stop_signal,
            cpu_threads=None if cuda else torch.get_num_threads(),
            stopped_in_warmup=self.stopped_in_warmup,
            replacing=self.run_dir != self.final_dir,
            best_metric=self.cfg.best_metric,
        )

    def _report(self, result: TrainResult) -> TrainResult:
        """``result`` into the tracker's summary; the tracker closes."""
        self.tracker.summarize({k: v for k, v in vars(result).items() if k != "run_dir"})
        self.tracker.finish()
        return result

    def _result(self, loss: float | None, samples: int, tokens: int, train_s: float) -> TrainResult:
        procs = self.procs
        samples, tokens = procs.sum(samples), procs.sum(tokens)
        peak = mfu = None
        if procs.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(procs.device) / 2**30
            device_peak = peak_flops(procs.device)
            if device_peak and train_s > 0:
                mfu = procs.sum(self.model_flops) / train_s / (device_peak * procs.world_size)
        return TrainResult(
            run_dir=self.final_dir,
            steps=self.step,
            total_steps=self.total_steps,
            epochs=self._epoch(),
            train_loss=loss,
            final_val_loss=self.last_val,
            best_val_loss=self.best_loss,
            best_step=self.best.step,
            wall_s=time.perf_counter() - self.started,
            train_s=train_s,
            samples_per_s=samples / train_s if train_s else 0.0,
            tokens_per_s=tokens / train_s if train_s else 0.0,
            peak_memory_gb=peak,
            mfu=mfu,
            interrupted=self.stop_signal,
            cpu_threads=torch.get_num_threads() if self.procs.device.type == "cpu" else None,
            encoder_warmup_s=self.warmup.seconds if self.warmup is not None else None,
            encoder_val_accuracy=self.warmup.val_accuracy if self.warmup is not None else None,
            stopped_in_warmup=self.stopped_in_warmup,
            replacing=self.run_dir != self.final_dir,
            best_metric=self.best.metric,
            best_value=self.best.value,
            final_metrics=self.last_metrics,
        )
