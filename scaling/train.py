"""One training run: a GPT, a data source and a token budget in; a `Run` out.

AdamW with linear warmup and cosine decay, a fixed held-out eval set, a loss curve at
log-spaced steps, parameters and FLOPs in each convention, wall time and tokens/s.
Same seed on CPU (and the same torch thread count) gives the same losses bit for bit.
A NaN or infinite loss ends the run with status "diverged"; it is a result, not an error.
On CUDA: bf16 autocast and TF32 matmuls. The loop is kept lean because tiny models are
bound by per-op and per-tensor overhead, not FLOPs: batches come in preallocated chunks,
parameters and gradients live in one flat buffer per weight-decay group (one norm to clip,
one fill to zero, a fused AdamW over two tensors, without torch.optim and the torch._dynamo
import its first call costs), and nothing syncs a GPU per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from scaling.flops import measure_training_flops, training_flops_per_token
from scaling.model import GPT, GPTConfig
from scaling.params import count_params
from scaling.run import Run
from scaling.schedule import curve_steps, lr_at
from scaling.settings import Plan, TrainSettings, validate  # noqa: F401 (re-exported)


EVAL_SEED = 20240601  # one fixed held-out set shared by every run, so runs compare exactly
CHUNK_STEPS = 16  # train batches fetched per call to source.batch (amortizes Python overhead)
ADAM_BETAS = (0.9, 0.95)  # GPT-3 (Brown et al. 2020, App. B) and nanoGPT
ADAM_EPS = 1e-8
CUDA_CHECK_EVERY = 32  # steps between divergence checks on CUDA (each check syncs the GPU)


def train(config: GPTConfig, source, settings: TrainSettings) -> Run:
    """Train `GPT(config)` on `source` under `settings` and return the `Run`."""
    plan = validate(config, source, settings)
    t_start = time.perf_counter()
    device = torch.device(settings.device)
    on_cuda = device.type == "cuda"
    n_ctx, bs = config.n_ctx, settings.batch_size

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=[device] if on_cuda else []))
        if on_cuda:
            stack.enter_context(_tf32())
        torch.manual_seed(settings.seed)
        model = GPT(config).to(device)
        flat = _FlatParams(model)
        opt = _adamw(flat, plan.lr, settings.weight_decay)
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if on_cuda else contextlib.nullcontext

        eval_seq = source.batch("eval", settings.eval_seqs, n_ctx + 1, np.random.default_rng(EVAL_SEED))
        eval_seq = torch.from_numpy(_token_ids(eval_seq, config.vocab_size, source)).to(device)
        evaluate = _Evaluator(model, eval_seq, bs, autocast)

        rng = np.random.default_rng(settings.seed)
        marks = curve_steps(plan.steps, settings.curve_points)
        losses = torch.full((plan.steps,), math.nan, device=device)  # per-step train loss, no sync
        curve: list[dict[str, Any]] = []
        status, last_step, loop_s, prev_mark = "ok", 0, 0.0, 0
        model.train()
        t_loop = time.perf_counter()
        for step in range(1, plan.steps + 1):
            i = (step - 1) % CHUNK_STEPS
            if i == 0:  # next chunk of batches: one source call, one host->device copy
                chunk = source.batch("train", bs * CHUNK_STEPS, n_ctx + 1, rng)
                chunk = torch.from_numpy(_token_ids(chunk, config.vocab_size, source))
                chunk = chunk.to(device, non_blocking=True).view(CHUNK_STEPS, bs, n_ctx + 1)
                xs, ys = chunk[:, :, :-1].contiguous(), chunk[:, :, 1:].contiguous()
            lr = lr_at(step, plan.steps, plan.warmup_steps, plan.lr, settings.min_lr_frac)
            opt.lr = lr
            flat.grad.zero_()
            with autocast():
                _, loss = model(xs[i], ys[i])
            loss.backward()
            if settings.grad_clip > 0:
                flat.clip_grad_norm_(settings.grad_clip)
            opt.step()
            losses[step - 1] = loss.detach()
            last_step = step
            at_mark = step == marks[len(curve)]
            if (not on_cuda or at_mark or step % CUDA_CHECK_EVERY == 0) and not torch.isfinite(loss):
                status = "diverged"
                break
            if at_mark:
                loop_s += time.perf_counter() - t_loop
                window = losses[prev_mark:step]
                point = {"step": step, "tokens": step * bs * n_ctx, "lr": lr,
                         "train_loss": float(window.mean())}
                if settings.curve_eval_seqs:
                    point["eval_loss"] = evaluate(settings.curve_eval_seqs)
                curve.append(point)
                prev_mark = step
                t_loop = time.perf_counter()
        else:
            loop_s += time.perf_counter() - t_loop

        if status == "diverged":
            loop_s += time.perf_counter() - t_loop
            curve.append({"step": last_step, "tokens": last_step * bs * n_ctx,
                          "lr": lr, "train_loss": None})
            eval_loss, metrics = math.nan, {}
        else:
            eval_loss = evaluate(settings.eval_seqs)
            if not math.isfinite(eval_loss):
                status = "diverged"
            metrics = _source_metrics(source, model, n_ctx, autocast) if status == "ok" else {}
        flops = _flops(config, model, eval_seq, last_step * bs * n_ctx)
        threads = torch.get_num_threads()

    tokens = last_step * bs * n_ctx
    pc = count_params(config)
    return Run(
        config=dataclasses.asdict(config),
        source=_describe(source),
        settings=settings.to_dict(),
        eval_loss=eval_loss,
        curve=curve,
        tokens=tokens,
        steps=last_step,
        lr=plan.lr,
        params={"total": pc.total, "embedding": pc.embedding, "non_embedding": pc.non_embedding},
        flops=flops,
        wall_s=time.perf_counter() - t_start,
        tokens_per_s=tokens / loop_s if loop_s > 0 else math.nan,
        status=status,
        metrics=metrics,
        threads=threads,
    )


def _token_ids(batch, vocab_size: int, source) -> np.ndarray:
    """`batch` as contiguous int64 ids, checked to lie in [0, vocab_size): on CUDA an id out of
    range is an opaque device-side assert that poisons the process, so it is caught here."""
    ids = np.ascontiguousarray(batch, dtype=np.int64)
    lo, hi = int(ids.min(initial=0)), int(ids.max(initial=0))
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"source {getattr(source, 'name', type(source).__name__)!r} gave token id "
                         f"{lo if lo < 0 else hi}, outside the model's vocabulary [0, {vocab_size})")
    return ids


def _describe(source) -> dict[str, Any]:
    d = dict(source.describe())
    d.setdefault("name", source.name)
    d.setdefault("fingerprint", source.fingerprint)
    return d


class _FlatParams:
    """The model's trainable parameters, and their gradients, each in one contiguous buffer.

    Tiny models are bound by per-tensor overhead, not FLOPs: with every parameter a view into
    one buffer (the weight-decayed matrices and embeddings first, then biases and norms, as
    nanoGPT groups them), gradient clipping is one norm and one scale, zeroing the gradients
    one fill, and fused AdamW steps two tensors (one per group) instead of one per parameter.
    Backward adds into the gradient views in place (autograd accumulates into a defined .grad).
    """

    def __init__(self, model: torch.nn.Module):
        params = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        ordered = decay + [p for p in params if p.dim() < 2]
        n_decay = sum(p.numel() for p in decay)
        first = ordered[0]
        self.data = torch.empty(sum(p.numel() for p in ordered), dtype=first.dtype, device=first.device)
        self.grad = torch.zeros_like(self.data)
        offset = 0
        for p in ordered:
            n = p.numel()
            self.data[offset:offset + n].copy_(p.detach().reshape(-1))
            p.data = self.data[offset:offset + n].view_as(p)
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n
        self.groups = []  # (parameters, gradients) of the decay and no-decay groups
        for lo, hi in ((0, n_decay), (n_decay, offset)):
            group = self.data[lo:hi]
            group.grad = self.grad[lo:hi]
            self.groups.append(group)

    def clip_grad_norm_(self, max_norm: float) -> None:
        """`torch.nn.utils.clip_grad_norm_` on the one gradient buffer: the same formula."""
        norm = torch.linalg.vector_norm(self.grad)
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))


class _AdamW:
    """AdamW on the flat parameter groups through torch's fused kernel, without torch.optim.

    The update, kernel and state of `torch.optim.AdamW(fused=True)`: one `_fused_adamw_` call
    per group (one kernel over all its parameters), each group's step count a float32 scalar
    tensor, so the numbers are the same. But torch.optim's `Optimizer` methods are wrapped in
    `torch._disable_dynamo`, whose first call imports torch._dynamo: 1.2-1.7 s in every fresh
    training process, on the critical path of every sweep.
    """

    def __init__(self, groups: list[tuple[torch.Tensor, float]], lr: float):
        self.lr = lr
        self.groups = [(p, wd, torch.zeros_like(p), torch.zeros_like(p),
                        torch.zeros((), dtype=torch.float32, device=p.device))
                       for p, wd in groups if p.numel()]

    def step(self) -> None:
        for p, weight_decay, exp_avg, exp_avg_sq, step in self.groups:
            step.add_(1)
            torch._fused_adamw_([p], [p.grad], [exp_avg], [exp_avg_sq], [], [step], lr=self.lr,
                                beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=weight_decay,
                                eps=ADAM_EPS, amsgrad=False, maximize=False)


def _adamw(flat: _FlatParams, lr: float, weight_decay: float) -> _AdamW:
    """AdamW, decaying only matrices and embeddings (biases and norms are not decayed, as in nanoGPT)."""
    decay, no_decay = flat.groups
    return _AdamW([(decay, weight_decay), (no_decay, 0.0)], lr)


class _Evaluator:
    """Mean held-out loss over a prefix of the fixed eval set, in batch_size chunks."""

    def __init__(self, model, eval_seq: torch.Tensor, batch_size: int, autocast):
        self.model, self.seq, self.bs, self.autocast = model, eval_seq, batch_size, autocast

    def __call__(self, n_seqs: int) -> float:
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.seq.device)
        with torch.inference_mode(), self.autocast():
            for lo in range(0, n_seqs, self.bs):
                s = self.seq[lo:min(lo + self.bs, n_seqs)]
                _, loss = self.model(s[:, :-1], s[:, 1:])
                total += loss.double() * s.shape[0]  # every sequence has n_ctx targets
        self.model.train(was_training)
        return float(total) / n_seqs


def _source_metrics(source, model, n_ctx: int, autocast) -> dict[str, float]:
    """Task metrics (e.g. exact match on the arithmetic task) from `source.evaluate`, if any."""
    evaluate = getattr(source, "evaluate", None)
    if evaluate is None:
        return {}
    device = next(model.parameters()).device

    def logits_fn(idx: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast():
            out = model(torch.as_tensor(idx, dtype=torch.long, device=device))
        return out.float().cpu().numpy()

    model.eval()
    try:
        return {k: float(v) for k, v in evaluate(logits_fn, n_ctx).items()}
    finally:
        model.train()


_MEASURED_PER_TOKEN: dict[tuple[GPTConfig, str], float] = {}  # FlopCounterMode costs 0.1-0.3 s a run


def _flops(config: GPTConfig, model: GPT, seq: torch.Tensor, tokens: int) -> dict[str, float]:
    """Training FLOPs of the run in each convention (see `scaling.flops`), D = `tokens`."""
    pc = count_params(config)
    key = (config, seq.device.type)
    measured = _MEASURED_PER_TOKEN.get(key)
    if measured is None:  # the count depends on the shapes only: once per config per process
        x = seq[:1]  # one eval sequence: FLOPs are linear in the batch, so per token is exact
        measured = _MEASURED_PER_TOKEN[key] = measure_training_flops(model, (x[:, :-1], x[:, 1:])) / config.n_ctx
    return {
        "6nd": 6.0 * pc.total * tokens,
        "6nd_non_embedding": float(training_flops_per_token(config, "6n")) * tokens,
        "kaplan": float(training_flops_per_token(config, "kaplan")) * tokens,
        "palm": float(training_flops_per_token(config, "palm")) * tokens,
        "measured_per_token": measured,
        "measured": measured * tokens,
    }


@contextlib.contextmanager
def _tf32():
    """TF32 matmuls and convolutions on CUDA for the duration of a run (restored after)."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
