"""The cause catalog: nandoctor's public vocabulary of why runs fail, with fixes per framework.

Cause ids are public (JSON, the realworld labels): extend the list deliberately, never rename.
A fix may carry numbers from the evidence: `{lr}` and `{lr_lower}` are filled from the findings
(the learning rate at the onset and a tenth of it); a fix whose numbers are unknown uses its plain text.
A fix may name its topic (`[lr] Lower ...`): a generic fix is left out when the framework's own fixes
already cover its topic, so a report never says "lower base_lr" and then "lower the learning rate".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

FRAMEWORKS = ("caffe", "pytorch", "lightning", "keras", "hf", "tensorflow", "fairseq", "deepspeed", "megatron")


@dataclass(frozen=True)
class Fix:
    plain: str
    with_numbers: str | None = None  # used when every {placeholder} in it is known
    topics: tuple[str, ...] = ()  # what the fix changes (lr, clip, labels, ...): each is advised once


@dataclass(frozen=True)
class CauseInfo:
    id: str
    title: str
    why: str
    generic: tuple[Fix, ...]
    by_framework: Mapping[str, tuple[Fix, ...]] = field(default_factory=dict)


_TOPIC = re.compile(r"^\[([\w,]+)\] ")


def _fixes(*items: str | tuple[str, str]) -> tuple[Fix, ...]:
    return tuple(_fix(*((item,) if isinstance(item, str) else item)) for item in items)


def _fix(plain: str, with_numbers: str | None = None) -> Fix:
    """A catalog entry: `[topic,topic] text`, optionally with a variant that carries numbers."""
    match = _TOPIC.match(plain)
    topics = tuple(match.group(1).split(",")) if match else ()
    strip = (lambda text: _TOPIC.sub("", text, count=1)) if match else (lambda text: text)
    return Fix(strip(plain), None if with_numbers is None else strip(with_numbers), topics)


CAUSES: dict[str, CauseInfo] = {
    cause.id: cause
    for cause in (
        CauseInfo(
            "lr_too_high",
            "Learning rate too high",
            "Each update overshoots: the loss grows step over step until it overflows.",
            _fixes(("[lr] Lower the learning rate by 10x or more.", "Lower the learning rate from {lr} to {lr_lower} or below."), "[clip] Add gradient clipping.", "[warmup] Use a longer warmup."),
            {
                "caffe": _fixes(("[lr] Lower base_lr in solver.prototxt by 10x or more.", "Lower base_lr in solver.prototxt from {lr} to {lr_lower} or below."), "[clip] Set clip_gradients (e.g. 10) in solver.prototxt."),
                "pytorch": _fixes(("[lr] Lower the optimizer's lr by 10x or more.", "Lower the optimizer's lr from {lr} to {lr_lower} or below."), "[clip] Clip gradients: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) before optimizer.step()."),
                "lightning": _fixes(("[lr] Lower the learning rate in configure_optimizers by 10x or more.", "Lower the learning rate in configure_optimizers from {lr} to {lr_lower} or below."), "[clip] Clip gradients: Trainer(gradient_clip_val=1.0)."),
                "keras": _fixes(("[lr] Lower the optimizer's learning_rate by 10x or more.", "Lower the optimizer's learning_rate from {lr} to {lr_lower} or below."), "[clip] Clip gradients: optimizer = Adam(learning_rate=..., clipnorm=1.0)."),
                "hf": _fixes(("[lr] Lower TrainingArguments.learning_rate by 10x or more.", "Lower TrainingArguments.learning_rate from {lr} to {lr_lower} or below."), "[clip,warmup] Keep max_grad_norm=1.0 and raise warmup_ratio (e.g. 0.05-0.1)."),
            },
        ),
        CauseInfo(
            "divergence",
            "Training diverged",
            "The loss moved away from its minimum and kept rising: the optimisation became unstable.",
            _fixes("Roll back to a checkpoint before the rise and resume with a lower learning rate.", "[schedule] Add learning-rate decay or a smaller peak learning rate.", "[clip] Add gradient clipping; for Adam, try beta2=0.95."),
            {
                "caffe": _fixes("[schedule] Lower base_lr or use lr_policy step/multistep with gamma 0.1.", "[clip] Set clip_gradients in solver.prototxt."),
                "keras": _fixes("Switch RMSprop to Adam or SGD(momentum=0.9) with a lower learning rate.", "[schedule] Add ReduceLROnPlateau(monitor='loss')."),
                "pytorch": _fixes("[schedule,clip] Use a learning-rate schedule (e.g. CosineAnnealingLR) and clip_grad_norm_.",),
                "lightning": _fixes("[schedule,clip] Add an LR scheduler and Trainer(gradient_clip_val=1.0).",),
                "hf": _fixes("[schedule,clip] Lower learning_rate, keep max_grad_norm=1.0, use lr_scheduler_type='cosine'.",),
            },
        ),
        CauseInfo(
            "sudden_nan",
            "Numerical fault: a sudden NaN from a stable loss",
            "The loss was finite and steady, then NaN with no growth: a log(0), a division by zero, an empty reduction, or one bad batch.",
            _fixes("[anomaly] Find the operation: enable anomaly detection and rerun from the last checkpoint.", "[eps] Guard denominators and logs with an epsilon; use the loss on logits (from_logits / BCEWithLogitsLoss).", "[data] Scan the data for NaN/inf, empty or corrupt samples; drop size-1 batches (drop_last=True)."),
            {
                "pytorch": _fixes("[anomaly] Wrap a rerun in torch.autograd.set_detect_anomaly(True) to name the op that made the NaN.", "[eps] Use BCEWithLogitsLoss / CrossEntropyLoss on logits; add eps to divisions; DataLoader(drop_last=True)."),
                "lightning": _fixes("[anomaly] Rerun with Trainer(detect_anomaly=True) to name the op that made the NaN.", "[eps] Use losses on logits, add eps to divisions, DataLoader(drop_last=True)."),
                "keras": _fixes("[eps] Use from_logits=True losses; add callbacks=[TerminateOnNaN()] and check the batch that failed.",),
                "hf": _fixes("Use bf16=True instead of fp16=True (fp16 overflow is the usual cause in HF runs).", "Lower learning_rate and raise per_device_train_batch_size."),
                "caffe": _fixes("[data] Check the data layer for corrupt images and labels outside [0, num_output).", "[eps] Use SoftmaxWithLoss rather than Softmax + MultinomialLogisticLoss."),
            },
        ),
        CauseInfo(
            "bad_input",
            "Bad input data or labels",
            "The loss is non-finite or impossible from the first steps, before learning could break anything: the data, labels or loss set-up are wrong.",
            _fixes("[lr0] Run one forward pass with learning rate 0: a NaN there is in the data, labels or weights, not the optimiser.", "[inputs] Check inputs for NaN/inf and constant columns (a zero std in normalisation).", "[labels] Check labels are in 0..C-1 and match the output layer and loss.", "[loss] Train a classifier with cross-entropy on its logits, not MSE/MAE on probabilities; log the loss that is trained."),
            {
                "caffe": _fixes("[labels] Check labels are in [0, num_output) and the mean/scale of the data layer.", "[lr0] Run with base_lr: 0 once: a NaN then comes from the data or the net, not the solver."),
                "keras": _fixes("Check the output activation matches the loss (softmax + categorical CE, sigmoid + binary CE).", "[inputs] Normalise inputs and targets; check for NaN in the arrays (np.isnan(x).any()).", "[loss] For classes use loss='categorical_crossentropy' (one-hot labels) or 'sparse_categorical_crossentropy' (class ids), not 'mean_absolute_error'/'mse'."),
                "pytorch": _fixes("[loss] Use nn.CrossEntropyLoss on the raw logits with class-id targets, not nn.MSELoss/nn.L1Loss on softmax outputs.",),
            },
        ),
        CauseInfo(
            "bad_init",
            "Bad initialisation",
            "The starting weights put the network far from a sane start: the initial loss is far above ln(classes), or activations overflow at once.",
            _fixes("[init] Use He/MSRA init for ReLU nets and a small final-layer init so the first loss is about ln(classes).", "Add normalisation layers (BatchNorm/LayerNorm).", "Check that pretrained weights match the architecture."),
            {"caffe": _fixes("[init] Use weight_filler { type: \"msra\" } (or xavier) and bias_filler constant 0 or 0.1.",)},
        ),
        CauseInfo(
            "lr_schedule_bug",
            "Learning-rate schedule bug",
            "The logged learning rate is NaN, zero, negative, or still rising long after warmup should have ended.",
            _fixes("Print the learning rate at every log step and check the schedule's parameters.", "Compute warmup in optimizer steps (after gradient accumulation and world size)."),
            {
                "caffe": _fixes("Set every parameter the lr_policy needs (max_iter for poly, stepsize/stepvalue and gamma for step/multistep).",),
                "pytorch": _fixes("Call optimizer.step() before scheduler.step(); restore the scheduler state on resume.",),
                "hf": _fixes("Check warmup_steps/warmup_ratio against max_steps; restore the scheduler on resume.",),
            },
        ),
        CauseInfo(
            "loss_scale_overflow",
            "fp16 loss-scale collapse",
            "The dynamic loss scale kept halving: gradients overflow in fp16 at every scale.",
            _fixes("[precision] Train in bf16 (or fp32) instead of fp16, especially for models pretrained in bf16.", "[lr,clip] Lower the learning rate and clip gradients."),
            {
                "pytorch": _fixes("[precision] Use torch.autocast(dtype=torch.bfloat16) or drop GradScaler/fp16.",),
                "hf": _fixes("[precision] Set bf16=True and fp16=False in TrainingArguments.",),
                "deepspeed": _fixes("[precision] Use \"bf16\": {\"enabled\": true} instead of fp16 in the DeepSpeed config.",),
                "fairseq": _fixes("[precision,lr,clip] Lower --lr, set --clip-norm, or use --bf16.",),
            },
        ),
        CauseInfo(
            "exploding_gradients",
            "Exploding gradients",
            "The gradient norm grew by orders of magnitude, usually before the loss did.",
            _fixes("[clip] Clip the gradient norm (1.0 is a common start).", "Lower the learning rate; use a smaller init std; for Adam, beta2=0.95."),
            {
                "pytorch": _fixes("[clip] torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0) before optimizer.step().",),
                "lightning": _fixes("[clip] Trainer(gradient_clip_val=1.0).",),
                "keras": _fixes("[clip] Create the optimizer with clipnorm=1.0.",),
                "hf": _fixes("[clip] TrainingArguments(max_grad_norm=1.0) and a lower learning_rate.",),
                "caffe": _fixes("[clip] Set clip_gradients: 10 in solver.prototxt.",),
                "fairseq": _fixes("[clip] Lower --clip-norm (e.g. 0.1) and --lr.",),
            },
        ),
        CauseInfo(
            "vanishing_or_stalled",
            "Training stalled",
            "The loss does not move: vanishing gradients, dead units, a network predicting the same output for every input, or a learning rate too small.",
            _fixes("Overfit one small batch: if even that fails, the model, loss or data pipeline is broken.", "[init] Use ReLU-family activations, residual connections and normalisation; He init.", "Remove any activation on the final logits; check the learning rate is neither ~0 nor far too high."),
            {"caffe": _fixes("[init] Use MSRA fillers and BatchNorm; restart if nothing improves after ~5000 iterations.",)},
        ),
        CauseInfo(
            "saturated_output",
            "Saturated output (softmax/probability clipped)",
            "The loss is pinned at a clipping constant: predictions are confidently wrong for every sample.",
            _fixes("[lr] Lower the learning rate by 10x or more and restart from before the jump.", "[logits] Compute the loss on logits (from_logits=True / SoftmaxWithLoss) rather than on probabilities.", "[labels] Check the labels' range and the output layer's size."),
            {
                "caffe": _fixes(("[lr] Lower base_lr in solver.prototxt by 10x or more.", "Lower base_lr in solver.prototxt from {lr} to {lr_lower} or below."), "[labels] Check labels are in [0, num_output); check BatchNorm use_global_stats at test time.", "[clip] Set clip_gradients in solver.prototxt."),
                "keras": _fixes("[logits] Use from_logits=True with a linear last layer; check softmax + categorical_crossentropy or sigmoid + binary_crossentropy pairing.",),
            },
        ),
        CauseInfo(
            "overfitting",
            "Overfitting",
            "The validation loss rose while the training loss kept falling.",
            _fixes("[early_stop] Stop early at the validation minimum (early stopping with patience).", "Add regularisation: augmentation, dropout, weight decay; or more data.", "Lower the learning rate late in training."),
            {
                "keras": _fixes("[early_stop] callbacks=[EarlyStopping(monitor='val_loss', patience=5, restore_best_weights=True)].",),
                "lightning": _fixes("[early_stop] callbacks=[EarlyStopping(monitor='val_loss', patience=5)] and ModelCheckpoint(monitor='val_loss').",),
                "hf": _fixes("[early_stop] load_best_model_at_end=True with EarlyStoppingCallback(early_stopping_patience=3).",),
            },
        ),
        CauseInfo(
            "oscillation",
            "Oscillation without progress",
            "The loss swings up and down without a downward trend: steps are too large for the curvature.",
            _fixes("[lr] Lower the learning rate or add decay.", "Use a larger batch; shuffle the data."),
            {"caffe": _fixes("[lr] Lower base_lr; for RMSProp raise rms_decay to 0.98-0.99 or use SGD with momentum 0.9.",)},
        ),
    )
}


# A cause that the evidence establishes on its own explains the symptoms it is known to produce: a
# learning rate decayed to nothing stalls the loss, a negative one blows it up; an fp16 loss scale
# that collapses turns the loss NaN. The explaining cause then also gets the credit of those findings.
EXPLAINS: dict[str, tuple[str, ...]] = {
    "lr_schedule_bug": ("vanishing_or_stalled", "lr_too_high", "divergence", "sudden_nan"),
    "loss_scale_overflow": ("lr_too_high", "divergence", "sudden_nan", "exploding_gradients"),
    "saturated_output": ("lr_too_high", "divergence"),
}
# The score a cause needs from its own findings before it may explain others.
EXPLAINING_SCORE = 0.3


def fixes_for(cause_id: str, framework: str | None, numbers: Mapping[str, float], first_topics: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fixes for a cause: the framework's own first, then the generic ones, numbers filled in; the
    fixes on `first_topics` (what the findings behind the cause point at) ahead of all others."""
    cause = CAUSES[cause_id]
    own = cause.by_framework.get(framework or "", ())
    covered = {topic for fix in own for topic in fix.topics}
    chosen = list(own) + [fix for fix in cause.generic if not fix.topics or not covered.issuperset(fix.topics)]
    first = set(first_topics)
    chosen.sort(key=lambda fix: first.isdisjoint(fix.topics))  # stable: the order above within each group
    return tuple(_render(fix, numbers) for fix in chosen)


def _render(fix: Fix, numbers: Mapping[str, float]) -> str:
    if fix.with_numbers is None:
        return fix.plain
    try:
        return fix.with_numbers.format(**{key: _format_number(value) for key, value in numbers.items()})
    except (KeyError, ValueError):
        return fix.plain


def _format_number(value: float) -> str:
    return f"{value:.3g}"
