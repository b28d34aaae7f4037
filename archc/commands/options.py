"""Options and helpers shared by the commands: spec selection (`SPEC --set --input --network`),
value parsing, and printing diagnostics from the source store."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from archc.core.errors import UsageError

# (re-exported: every command declares and reads its options from here)
from archc.core.overrides import parse_input as parse_input
from archc.core.overrides import parse_sets as parse_sets
from archc.core.overrides import parse_shape as parse_shape
from archc.core.overrides import parse_value as parse_value
from archc.core.plugin_config import add_plugin_option
from archc.core.sources import print_errors as print_errors

if TYPE_CHECKING:
    from archc.core.graph import InputShape, Network
    from archc.train.trained import Weights


class Once(argparse.Action):
    """An option given at most once: a second one is a usage error (exit 2), not silently the
    value that came last."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, self.default)
        if before is not self.default:
            parser.error(f"{option_string} given twice ({before}, then {values}); give it once")
        setattr(namespace, self.dest, values)


class InputOption(argparse.Action):
    """--input SHAPE once, or --input NAME=SHAPE once per named input (repeated ones are
    joined `image=3x64x64,mask=1x64x64`, what archc.core.overrides.parse_input reads)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, self.default)
        if before is not self.default:
            if "=" not in before or "=" not in values:
                parser.error(f"{option_string} given twice ({before}, then {values}); give one "
                             "shape, or NAME=SHAPE for each named input")
            values = f"{before},{values}"
        setattr(namespace, self.dest, values)


INPUT_METAVAR = "SHAPE|NAME=SHAPE"
INPUT_HELP = ("override the spec's input shape (CxHxW); a network with named inputs: "
              "NAME=SHAPE, once per input to change")


def add_spec_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="FILE", help="a .arch file, a bundled spec or a zoo member "
                   "(any name `archc list` prints)")


def add_spec_options(p: Any, input: bool = True) -> None:
    """--input / --set / --network / --plugin: the one helper every command that loads one spec
    declares them with (`train`, `eval` and `generate` without --input: a run fixes its input).
    --set is a list, empty when not given."""
    if input:
        p.add_argument("--input", metavar=INPUT_METAVAR, action=InputOption, help=INPUT_HELP)
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="set a network parameter (repeatable)")
    p.add_argument("--network", action=Once,
                   help="which network of the file (default: the first)")
    add_plugin_option(p)


def load_from_args(args: argparse.Namespace) -> Network:
    """Load the spec named by args.spec with its --set/--input/--network options."""
    from archc import load

    return load(args.spec, parse_sets(args.set), parse_input(args.input), args.network)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


ALL_LEVELS = 0  # `--depth all`


def depth_or_all(text: str) -> int:
    return ALL_LEVELS if text == "all" else positive(text)


def depth_option(p: argparse.ArgumentParser, default: str = "everything",
                 allow_all: bool = False) -> None:
    p.add_argument("--depth", type=depth_or_all if allow_all else positive,
                   metavar="N" + ("|all" if allow_all else ""),
                   help="show N levels of blocks; deeper blocks collapse into one row/node, and "
                   f"identical consecutive ones into one marked xN (default: {default})")


WEIGHTS_HELP = ("weights to load: a run folder of `archc train` (its best checkpoint, else its "
                "last), a checkpoint's .json or .safetensors, or a state_dict file (.pth/.pt/"
                ".bin/.safetensors: torchvision's, timm's, `archc import-weights` output), "
                "mapped by name; a run also gives the spec's --set values and input shape")


def add_weights_options(p: argparse.ArgumentParser, required: bool = False) -> None:
    """--weights / --checkpoint, shared by every command that loads trained weights."""
    p.add_argument("--weights", metavar="RUN_OR_FILE", required=required, help=WEIGHTS_HELP)
    p.add_argument("--checkpoint", metavar="WHICH", action=Once,
                   help="which checkpoint of a run folder: best, last or an epoch number "
                   "(default: best, else last)")


def load_with_weights(args: argparse.Namespace) -> tuple[Network, Weights | None]:
    """The spec of args (its --set/--input/--network) and the weights of --weights, if any:
    a run's recorded --set values, input shape and network fill in what the command line
    leaves out; a torchvision checkpoint's file name picks the zoo member."""
    from archc import load

    spec, sets, shape, network, weights = spec_with_weights(args)
    return load(spec, sets, shape, network), weights


def spec_with_weights(args: argparse.Namespace) -> tuple[
        str, dict[str, Any], InputShape | None, str | None, Weights | None]:
    """(spec, sets, input shape, network, weights or None) that `load_with_weights` loads."""
    sets, shape = parse_sets(args.set), parse_input(args.input)
    spec, network = args.spec, args.network
    if getattr(args, "weights", None) is None:
        if getattr(args, "checkpoint", None) is not None:
            raise UsageError("--checkpoint picks a checkpoint of --weights RUN; give --weights")
        return spec, sets, shape, network, None
    from archc.pipeline.zoo import spec_for_checkpoint
    from archc.train.trained import read_weights, same_network

    weights = read_weights(args.weights, args.checkpoint)
    if weights.run is not None:
        sets = {**weights.params, **sets}  # the command line's --set values win
        shape = shape or weights.input_shape
        network = network or weights.network
        same_network(spec, network, weights.run.get("name"), args.weights)
    else:
        spec, sets = spec_for_checkpoint(spec, args.weights, sets)
    return spec, sets, shape, network, weights


def fit_weights(net: Network, weights: Weights) -> None:
    """Check that `weights` fit `net` by name and shape (built on the meta device: no memory);
    raise ArchcErrors listing every misfit."""
    from archc.emit.weights import expected_shapes, map_state_dict

    map_state_dict(net, expected_shapes(net), weights.state_dict)
