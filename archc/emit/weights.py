"""Weight import: a foreign state_dict (torchvision's, a hand-written model's) onto the module of
a spec, BY NAME. Specs are labelled so their keys equal the foreign ones; a small rename table
per network covers what labels cannot say (1-based `denselayerN` vs loop indices). Every key
must land on a tensor of the same shape and nothing may be left over, else located errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.core.errors import ArchcError, ArchcErrors, Span, UsageError, did_you_mean
from archc.core.graph import Network, Node, walk
from archc.expansion.ids import tied
from archc.registry.ops import fmt_shape

if TYPE_CHECKING:
    import torch

Replacement = str | Callable[[re.Match], str]
Rule = tuple[str, Replacement]  # (regex over a foreign key, re.sub replacement)


class WeightError(ArchcError):
    """A state_dict that does not fit a spec's module."""


def index_minus_one(template: str) -> Callable[[re.Match], str]:
    """A replacement writing group 1, then group 2 minus one: 1-based names -> loop indices."""
    return lambda m: template.format(m[1], int(m[2]) - 1)


@dataclass(frozen=True)
class KeyMap:
    """How one network's keys relate to a foreign model's: a model family's checkpoint keys
    (torchvision's resnets, GPT-2 on the Hub) renamed onto the spec's. (A family is a model
    family, as in the zoo; ops are grouped by their `Op.family` for diagrams and FLOP words.)"""

    source: str  # what the foreign state_dict comes from
    renames: tuple[Rule, ...] = ()  # applied in order to every foreign key
    # regexes: foreign keys deliberately left out of the spec, skipped where it has no place for
    # them (a segmentation spec built without `aux`; with it, they load)
    ignore: tuple[str, ...] = ()


_DENSELAYER = (r"(denseblock\d+)\.denselayer(\d+)\.", index_minus_one("{}.{}."))

# Keyed by network name. Families whose names all match need no entry beyond their source.
KEY_MAPS: dict[str, KeyMap] = {
    "tv_resnet": KeyMap("torchvision.models.resnet{18,34,50,101,152}"),
    "tv_vgg": KeyMap("torchvision.models.vgg{11,13,16,19}[_bn]"),
    "tv_alexnet": KeyMap("torchvision.models.alexnet"),
    # pretrained checkpoints carry the auxiliary classifiers, which the spec leaves out
    "tv_googlenet": KeyMap("torchvision.models.googlenet", ignore=(r"^aux[12]\.",)),
    # pretrained checkpoints carry the train-mode auxiliary classifier, which the spec leaves out
    "tv_inception_v3": KeyMap("torchvision.models.inception_v3", ignore=(r"^AuxLogits\.",)),
    # COCO checkpoints carry the aux head; the members build without it unless --set aux=true
    "tv_fcn": KeyMap("torchvision.models.segmentation.fcn_resnet{50,101}",
                     ignore=(r"^aux_classifier\.",)),
    "tv_deeplabv3": KeyMap("torchvision.models.segmentation.deeplabv3_*",
                           ignore=(r"^aux_classifier\.",)),
    "tv_densenet": KeyMap("torchvision.models.densenet{121,169,201}", renames=(
        # checkpoints from before torchvision 0.3 say `norm.1` for `norm1` (torchvision's own
        # _load_state_dict fixes them up the same way)
        (r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2."),
        _DENSELAYER)),
    "tv_regnet": KeyMap("torchvision.models.regnet_{x,y}_*"),
    # transformers' GPT2LMHeadModel; the Hub's gpt2 model.safetensors is GPT2Model's (no
    # `transformer.` prefix, no lm_head: tied to wte), with the causal-mask buffers of old
    # versions (attn.bias, attn.masked_bias)
    "gpt2": KeyMap("transformers GPT2LMHeadModel or GPT2Model (the Hub's model.safetensors)",
                   renames=((r"^(?!transformer\.|lm_head\.)", "transformer."),),
                   ignore=(r"\.attn\.(bias|masked_bias)$",)),
    "llama": KeyMap("transformers LlamaForCausalLM (the Hub's model*.safetensors)",
                    ignore=(r"\.rotary_emb\.inv_freq$",)),
    # the document specs, from tests/reference/models.py (d2l's naming)
    "densenet": KeyMap("d2l DenseNet (tests/reference/models.py: densenet)", (_DENSELAYER,)),
    "vgg11": KeyMap("d2l VGG-11 (tests/reference/models.py: vgg11)", (
        (r"(block\d+)\.conv(\d+)\.", index_minus_one("{}.repeat.{}.conv.")),)),
}

_SAME_NAMES = KeyMap("a model whose names equal the spec's")


def rename(key: str, rules: tuple[Rule, ...]) -> str:
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    return key


@dataclass
class ImportReport:
    """What an import did: tensors mapped, keys renamed (foreign -> archc), keys skipped."""

    network: str
    mapped: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)  # num_batches_tracked absent from old files
    tied: list[str] = field(default_factory=list)  # a tied weight absent, taken from its twin

    def __str__(self) -> str:
        extra = f", {len(self.filled)} num_batches_tracked filled" if self.filled else ""
        extra += f", {len(self.tied)} tied weights shared" if self.tied else ""
        return (f"{self.mapped} tensors onto {self.network}: {len(self.renamed)} renamed, "
                f"{len(self.ignored)} skipped{extra}")


# ----------------------------------------------------------------------------- mapping


def expected_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """The state_dict keys and shapes of `net`'s module, from a build on the meta device (no
    memory, no initialisation)."""
    import torch

    from archc.core.limits import MAX_MEMORY
    from archc.emit.torch import build_module
    from archc.expansion.memory import require

    require(net, MAX_MEMORY)  # (as `archc.build` would: the same refusal, before any work)
    with torch.device("meta"):
        module = build_module(net)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def map_state_dict(net: Network, target: Mapping[str, tuple[int, ...]],
                   state_dict: Mapping[str, torch.Tensor], family: KeyMap | None = None
                   ) -> tuple[dict[str, torch.Tensor], ImportReport]:
    """`state_dict` under the spec's names, checked key by key against `target` (key -> shape).
    Raises ArchcErrors listing every module whose tensors do not map, are missing or have
    another shape."""
    family = family or KEY_MAPS.get(net.name, _SAME_NAMES)
    report, errors = ImportReport(net.name), []
    nodes = dict(walk(net.root.items))
    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unplaced: dict[str, list[str]] = {}  # module -> tensor names, grouped for readable errors
    strays: list[str] = []  # foreign keys with no place: suggestions for missing ones
    for key, value in state_dict.items():
        new = rename(key, family.renames)
        if new not in target and any(re.search(p, key) for p in family.ignore):
            report.ignored.append(key)
            continue
        if new != key:
            report.renamed.append((key, new))
        if new in origin:
            errors.append(WeightError(f"'{key}' and '{origin[new]}' both map to '{new}'",
                                      _span(net, nodes, new)))
        elif new not in target:
            strays.append(key)
            unplaced.setdefault(new.rpartition(".")[0], []).append(new.rpartition(".")[2])
        elif tuple(value.shape) != target[new]:
            errors.append(WeightError(
                f"'{new}': shape {_shape(value.shape)} in the state_dict, "
                f"{_shape(target[new])} in the spec", _span(net, nodes, new),
                "check the spec's parameters (--set) and input shape (--input)"))
        origin[new] = key
        mapped[new] = value
    for name, _, twin in tied(net.root):  # saved once (transformers drops lm_head.weight)
        key = f"{name}.weight"
        if key in target and key not in origin and f"{twin}.weight" in mapped:
            mapped[key] = mapped[f"{twin}.weight"]
            origin[key] = f"{twin}.weight"
            report.tied.append(key)
    missing: dict[str, list[str]] = {}
    for key in sorted(target.keys() - origin.keys()):
        if key.endswith("num_batches_tracked"):
            report.filled.append(key)
        else:
            missing.setdefault(key.rpartition(".")[0], []).append(key.rpartition(".")[2])
    errors += [_unplaced(net, nodes, module, names, target) for module, names in unplaced.items()]
    errors += [WeightError(f"'{module}': {', '.join(names)} missing from the state_dict",
                           _span(net, nodes, module + ".x"),
                           did_you_mean(f"{module}.{names[0]}", strays))
               for module, names in missing.items()]
    if errors:
        raise ArchcErrors(errors)
    report.mapped = len(mapped)
    return mapped, report


def _shape(shape: Iterable[int]) -> str:
    return fmt_shape(tuple(shape)) or "scalar"


def _owner(nodes: Mapping[str, Node], key: str) -> tuple[str, Node] | None:
    """The deepest spec node (qualified name, node) whose name prefixes `key`."""
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:n])
        if name in nodes:
            return name, nodes[name]
    return None


def _span(net: Network, nodes: Mapping[str, Node], key: str) -> Span | None:
    owner = _owner(nodes, key)
    return owner[1].span if owner is not None else net.root.span


def _unplaced(net: Network, nodes: Mapping[str, Node], module: str, names: list[str],
              target: Mapping[str, tuple[int, ...]]) -> WeightError:
    first = f"{module}.{names[0]}"
    owner = _owner(nodes, first)
    if owner is None:
        where = f"no '{module.split('.')[0]}' at its top level"
    else:
        name, node = owner
        kind = getattr(node, "op", None) or getattr(node, "title", "")
        where = f"'{name}' ({kind}) has no '{first[len(name) + 1:].split('.')[0]}'"
    return WeightError(f"'{module}' ({', '.join(names)}) has no place in network "
                       f"'{net.name}': {where}", _span(net, nodes, first),
                       did_you_mean(first, target) or "is it the right spec and --set?")


def import_state_dict(net: Network, module: torch.nn.Module,
                      state_dict: Mapping[str, torch.Tensor], family: KeyMap | None = None
                      ) -> ImportReport:
    """Copy a foreign state_dict into `module` (the build of `net`) by name; raise ArchcErrors
    unless every key maps onto a tensor of the same shape and none is left over."""
    own = module.state_dict()
    mapped, report = map_state_dict(net, {k: tuple(v.shape) for k, v in own.items()},
                                    state_dict, family)
    for key in report.filled:
        mapped[key] = own[key]
    module.load_state_dict(mapped, strict=True)
    return report


# ----------------------------------------------------------------------------- files


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from .safetensors, or from a torch.save file (.pth/.pt/.bin; tensors only:
    loaded with weights_only=True, never unpickling code). Unwraps {"state_dict": ...} and
    {"model": ...}, and a DataParallel `module.` prefix."""
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"no such weights file: '{path}'") from None
    except IsADirectoryError:
        raise WeightError(f"'{path}' is a folder and holds no checkpoint", hint=_KINDS) from None
    except Exception as exc:  # a corrupt or non-tensor file: say which, in archc's words
        raise WeightError(f"'{path}' is not a weights file ({_why(path, exc)})",
                          hint=_KINDS) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightError(f"'{path}' holds no state_dict (a mapping of names to tensors)",
                          hint=_KINDS)
    if data and all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


_KINDS = ("weights are a run folder of `archc train`, its checkpoint .json or .safetensors, or a "
          "state_dict saved with torch.save or safetensors")


def _why(path: Path, exc: Exception) -> str:
    """Why torch.load or safetensors refused a file, in a few words (never torch's advice to
    unpickle it: archc loads tensors only)."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as err:
        return err.strerror or type(err).__name__
    if head[:1] == b"\x80" or head[:2] == b"PK":  # a pickle, or torch.save's zip of one
        if "weights only" in str(exc).lower():
            return "a torch.save file holding Python objects besides tensors, which archc " \
                   "does not unpickle"
        return "a damaged torch.save file"
    if path.suffix == ".safetensors":
        return "not a readable safetensors file"
    return "neither a torch.save file nor safetensors"


def parse_renames(specs: list[str]) -> tuple[Rule, ...]:
    """`--rename 'PATTERN=REPLACEMENT'` arguments as rules; a bad one is a usage error."""
    rules: list[Rule] = []
    for spec in specs:
        pattern, sep, replacement = spec.partition("=")
        if not sep or not pattern:
            raise UsageError(f"--rename {spec!r}: expected PATTERN=REPLACEMENT",
                             hint="e.g. --rename 'features\\.(\\d+)=stage\\1'")
        try:
            re.sub(pattern, replacement, "")
        except re.error as exc:
            raise UsageError(f"--rename {spec!r}: {exc}") from None
        rules.append((pattern, replacement))
    return tuple(rules)


def key_map_for(net: Network, name: str | None, renames: list[str]) -> KeyMap:
    """The rename table for `net`: the named family (default: the network's own, if any),
    then the `--rename` rules, in order."""
    family = KEY_MAPS[name] if name else KEY_MAPS.get(net.name, _SAME_NAMES)
    extra = parse_renames(renames)
    return replace(family, renames=family.renames + extra) if extra else family
