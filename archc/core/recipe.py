"""Training recipes: the schema of a network's `train { }` section (torch-free).

`archc check` validates every section with it (located errors at the key's line), and
`archc train` merges it with flags (every key is a flag) and the recipe stored in a checkpoint.
The defaults are the book's (d2l `train_ch6`): plain SGD, constant lr, Xavier init, no
augmentation, no normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from archc.core import codes
from archc.core.errors import ArchcError, ArgumentError, NameError_, Span, did_you_mean
from archc.core.records import record
from archc.core.schema import AfterValidator, Args, BeforeValidator, Field, is_validation_error


class RecipeError(ArgumentError):
    """A recipe value that archc does not accept (wrong type, out of range, inconsistent)."""

    default_code = codes.RECIPE_VALUE


class UnknownRecipeKey(NameError_):
    """A recipe key that archc does not know."""

    default_code = codes.UNKNOWN_RECIPE_KEY


DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100", "folder")


def _channel_values(value: Any) -> Any:
    """`mean = 0.5` or `mean = "0.4914, 0.4822, 0.4465"` (the language has no lists)."""
    if isinstance(value, bool):
        return value  # rejected by the list type below
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        try:
            return [float(v) for v in value.replace(",", " ").split()]
        except ValueError:
            raise ValueError("expected numbers separated by commas, like "
                             "\"0.5, 0.5, 0.5\"") from None
    return value


def _finite(value: list[float] | None) -> list[float] | None:
    if value is not None:
        if not 1 <= len(value) <= 4:
            raise ValueError("expected 1 to 4 numbers, one per channel")
        if not all(abs(v) < 1e6 for v in value):
            raise ValueError("expected finite numbers")
    return value


def _positive(value: list[float] | None) -> list[float] | None:
    if value is not None and 1 <= len(value) <= 4 and not all(0 < v < 1e6 for v in value):
        raise ValueError("every std must be > 0")
    return _finite(value)


Channels = Annotated[list[float] | None, BeforeValidator(_channel_values), AfterValidator(_finite)]
Stds = Annotated[list[float] | None, BeforeValidator(_channel_values), AfterValidator(_positive)]


class Recipe(Args):
    """One training recipe. Every field can come from the spec's `train { }` or from a flag;
    the field's description is the flag's help. (A schema of archc/core/schema.py: checked
    without pydantic where valid, described and worded by pydantic.)"""

    schema_config = {"extra": "forbid", "frozen": True, "strict": True}

    # data
    dataset: Literal["mnist", "fashion-mnist", "cifar10", "cifar100", "folder"] | None = Field(
        None, description="data set (default: what --data-dir holds, else fashion-mnist)")
    resize: int | None = Field(None, ge=1, le=1024,
                               description="image side the network sees (default: the data's)")
    # optimisation
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="sgd or adamw")
    lr: float = Field(0.1, gt=0, allow_inf_nan=False, description="(peak) learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd momentum")
    nesterov: bool = Field(False, description="sgd Nesterov momentum")
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False,
                                description="L2 penalty (sgd) / decoupled decay (adamw)")
    beta1: float = Field(0.9, ge=0, lt=1, description="adamw beta1")
    beta2: float = Field(0.999, ge=0, lt=1, description="adamw beta2")
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(256, ge=1, le=1 << 20)
    init: Literal["xavier", "default"] = Field(
        "xavier", description="xavier: Xavier-uniform conv/linear weights (d2l); default: torch's")
    # schedule (per step): linear warmup from lr/100, then constant, step or cosine
    schedule: Literal["constant", "step", "cosine"] = Field("constant",
                                                            description="lr schedule")
    warmup_epochs: float = Field(0.0, ge=0, allow_inf_nan=False,
                                 description="linear warmup length (epochs, may be fractional)")
    step_size: int = Field(30, ge=1, description="schedule step: epochs between lr drops")
    gamma: float = Field(0.1, gt=0, le=1, description="schedule step: lr factor per drop")
    min_lr: float = Field(0.0, ge=0, allow_inf_nan=False, description="schedule cosine: final lr")
    # loss and step
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    aux_weight: float = Field(0.4, ge=0, allow_inf_nan=False,
                              description="a network with outputs: each auxiliary output's "
                              "loss weight (loss = main + aux_weight x sum of the others)")
    clip_grad_norm: float | None = Field(None, gt=0, allow_inf_nan=False,
                                         description="clip the gradient's global L2 norm")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on GPU, fp32 on CPU")
    # augmentation (on the device, training batches only)
    crop_padding: int = Field(0, ge=0, le=256,
                              description="random crop after zero padding by this much")
    random_resized_crop: bool = Field(False, description="random resized crop (Inception)")
    crop_scale: float = Field(0.08, gt=0, le=1, description="random resized crop: min area")
    hflip: bool = Field(False, description="random horizontal flip")
    normalize: bool = Field(False, description="subtract mean, divide by std (per channel)")
    mean: Channels = Field(None, description="per-channel mean in [0, 1], like "
                           "\"0.49, 0.48, 0.45\" (default: computed from the data)")
    std: Stds = Field(None, description="per-channel std (default: computed)")

    @property
    def image_size(self) -> int | None:
        """The side of the images the network sees, when the recipe fixes it."""
        return self.resize

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The learning rate of optimizer step `step` (0-based): warmup, then the schedule."""
        epoch = step / steps_per_epoch
        warm = self.warmup_epochs
        if epoch < warm:
            return self.lr * (0.01 + 0.99 * epoch / warm)
        return SCHEDULES[self.schedule](self, epoch - warm, self.epochs - warm)


def _constant(r: Recipe, epoch: float, total: float) -> float:
    return r.lr


def _step(r: Recipe, epoch: float, total: float) -> float:
    return r.lr * r.gamma ** int(epoch // r.step_size)


def _cosine(r: Recipe, epoch: float, total: float) -> float:
    import math

    frac = min(epoch / total, 1.0) if total > 0 else 1.0
    return r.min_lr + (r.lr - r.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))


SCHEDULES = {"constant": _constant, "step": _step, "cosine": _cosine}
RECIPE_KEYS: tuple[str, ...] = Recipe.field_names


@record
class Rule:
    """A rule between keys: `keys` names the keys it concerns, the one to blame first (the
    error points at the first of them that the section sets)."""

    keys: tuple[str, ...]
    broken: Any  # Callable[[Recipe, set[str]], str | None]: a message when the rule is broken


def _only_for(key: str, owner: str, value: str) -> Rule:
    """`key` means something only when `owner` is `value`: setting it otherwise is a mistake."""
    def broken(r: Recipe, given: set[str]) -> str | None:
        have = _text(getattr(r, owner))
        if key in given and have != value:
            return f"{key} is only used with {owner} = {value} (this recipe has {owner} = {have})"
        return None
    return Rule((key, owner), broken)


RULES: tuple[Rule, ...] = (
    _only_for("momentum", "optimizer", '"sgd"'),
    _only_for("nesterov", "optimizer", '"sgd"'),
    _only_for("beta1", "optimizer", '"adamw"'),
    _only_for("beta2", "optimizer", '"adamw"'),
    _only_for("step_size", "schedule", '"step"'),
    _only_for("gamma", "schedule", '"step"'),
    _only_for("min_lr", "schedule", '"cosine"'),
    _only_for("crop_scale", "random_resized_crop", "true"),
    Rule(("nesterov", "momentum"), lambda r, given: (
        "nesterov needs momentum > 0" if r.nesterov and r.momentum == 0 else None)),
    Rule(("warmup_epochs", "epochs"), lambda r, given: (
        f"warmup_epochs ({r.warmup_epochs:g}) must be shorter than the run ({r.epochs} epochs)"
        if r.warmup_epochs >= r.epochs and r.warmup_epochs > 0 else None)),
    Rule(("min_lr", "lr"), lambda r, given: (
        f"min_lr ({r.min_lr:g}) must be below lr ({r.lr:g})"
        if r.schedule == "cosine" and r.min_lr >= r.lr else None)),
    Rule(("random_resized_crop", "crop_padding"), lambda r, given: (
        "choose one crop: crop_padding or random_resized_crop"
        if r.random_resized_crop and r.crop_padding else None)),
    Rule(("mean", "std"), lambda r, given: (
        "mean and std need normalize = true" if (r.mean or r.std) and not r.normalize else None)),
    Rule(("mean", "std"), lambda r, given: (
        "give both mean and std, or neither (both are then computed from the training data)"
        if (r.mean is None) != (r.std is None) else None)),
)
_PYDANTIC_WORDS = {"int_type": "an integer", "bool_type": "true or false",
                   "float_type": "a number", "string_type": "a string",
                   "list_type": "numbers separated by commas", "finite_number": "a finite number"}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than": "<",
           "less_than_equal": "<="}


def _text(value: Any) -> str:
    """A value as a spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return ", ".join(f"{v:g}" for v in value)
    return "none" if value is None else repr(value)


def _message(err: Any, values: Mapping[str, Any]) -> tuple[str | None, str]:
    """(key or None, message) for one pydantic error."""
    key = str(err["loc"][0]) if err["loc"] else None
    kind = err["type"]
    shown = _text(values.get(key)) if key else ""
    if kind in _PYDANTIC_WORDS:
        return key, f"train: {key} must be {_PYDANTIC_WORDS[kind]}, got {shown}"
    if kind in _BOUNDS:
        bound = next(iter(err["ctx"].values()))
        return key, f"train: {key} must be {_BOUNDS[kind]} {bound}, got {shown}"
    if kind == "literal_error":
        return key, f"train: {key} must be one of {err['ctx']['expected']}, got {shown}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return key, f"train: {key} = {shown}: {msg[0].lower()}{msg[1:]}" if key else f"train: {msg}"


def unknown_key(key: str, span: Span | None = None, source: str = "train") -> UnknownRecipeKey:
    """`train: unknown training key 'batchsize'` with a did-you-mean."""
    hint = did_you_mean(key, RECIPE_KEYS) or f"known keys: {', '.join(RECIPE_KEYS)}"
    return UnknownRecipeKey(f"{source}: unknown training key '{key}'", span, hint)


def validate(values: Mapping[str, Any], spans: Mapping[str, Span] | None = None,
             section: Span | None = None, source: str = "train",
             key_spans: Mapping[str, Span] | None = None
             ) -> tuple[Recipe | None, list[ArchcError]]:
    """Validate recipe values. Errors are located when spans are known: an unknown key at the
    key (`key_spans`), a bad value at the value (`spans`), a rule between keys at the last
    key it names that is set, else at the section."""
    spans, key_spans = spans or {}, key_spans or {}
    errors: list[ArchcError] = [unknown_key(k, key_spans.get(k), source)
                                for k in values if k not in RECIPE_KEYS]
    known = {k: v for k, v in values.items() if k in RECIPE_KEYS}
    try:
        recipe = Recipe.model_validate(known)
    except Exception as exc:  # pydantic's ValidationError: pydantic is imported only then
        if not is_validation_error(exc):
            raise
        for err in exc.errors():
            key, msg = _message(err, known)
            if source != "train":
                msg = msg.replace("train: ", f"{source}: ", 1)
            errors.append(RecipeError(msg, spans.get(key or "", section)))
        return None, errors
    # A key set to its default changes nothing: only keys that do are checked against rules
    # (a stored recipe lists every key).
    given = {k for k in known if getattr(recipe, k) != Recipe.field_default(k)}
    for rule in RULES:
        msg = rule.broken(recipe, given)
        if msg:
            where = next((key_spans.get(k, spans[k]) for k in rule.keys if k in spans),
                         section)
            errors.append(RecipeError(f"{source}: {msg}", where, code=codes.RECIPE_RULE))
    return (None if errors else recipe), errors



def make_recipe(*layers: Mapping[str, Any] | None, source: str = "recipe") -> Recipe:
    """Merge recipe layers (later ones win; None values are skipped); raise the first error."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in (layer or {}).items() if v is not None})
    recipe, errors = validate(merged, source=source)
    if errors:
        raise errors[0]
    assert recipe is not None
    return recipe


def check_section(settings: Iterable[tuple[str, Any, Span, Span]], section: Span
                  ) -> list[ArchcError]:
    """`archc check` on one network's `train { }` values: (key, value, key span, value span)."""
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    key_spans: dict[str, Span] = {}
    for key, value, key_span, value_span in settings:
        values[key], spans[key], key_spans[key] = value, value_span, key_span
    return validate(values, spans, section, key_spans=key_spans)[1]
