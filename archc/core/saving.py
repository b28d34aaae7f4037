"""The vocabulary of the saved-for-backward rules in the op and join records: what autograd
keeps from one op instance in one forward pass (`torch.autograd.graph.saved_tensors_hooks`
sees it), as a rule of the op's arguments and shapes. archc/expansion/memory_train.py adds the rules
up over a graph, sharing storage as torch does. No torch here."""

from __future__ import annotations

from archc.core.records import record

# Element types of kept tensors. ACT: the activation dtype (float32, or bfloat16 in a bf16
# model); MODEL: the model's dtype (of its parameters and buffers: float32 under autocast);
# the others are fixed whatever the activations are.
ACT, MODEL = "act", "model"
FIXED_BYTES = {"float32": 4, "int64": 8, "bool": 1}

# Memory layouts of a tensor, as far as they decide whether a later reshape copies it:
# CONTIGUOUS; NHWC, a CxHxW tensor stored channels-last (LayerNorm2d's and channel_linear's
# outputs are permuted views of channels-last storage); TRANSPOSED, NxD tokens stored DxN
# (tokens' permute of a contiguous image).
CONTIGUOUS, NHWC, TRANSPOSED = "contiguous", "nhwc", "transposed"


@record
class Kept:
    """A tensor an op makes and keeps for backward, whose storage no other op holds:
    `elements` per sample (or in all, where `per_sample` is false: BatchNorm's statistics)."""

    elements: int
    dtype: str = ACT
    per_sample: bool = True


@record
class Context:
    """What a rule may depend on besides arguments and shapes: train or eval mode, the device
    (dropout keeps a bool mask on CUDA, an activation-typed one on CPU), how the input is
    laid out in memory, whether it requires grad and the activations' element size."""

    training: bool = True
    device: str = "cpu"
    layout: str = CONTIGUOUS
    # whether the op's input requires grad (a composite op keeps more for its input's
    # gradient: rmsnorm), and the bytes of an activation element (4: float32; a float32 upcast
    # of a 16-bit input is a copy, of a float32 one the input itself)
    input_grad: bool = True
    act_bytes: int = 4


@record
class Saves:
    """What one op instance keeps for backward, when autograd records it (its input requires
    grad, or it has parameters; parameters themselves are model state, not counted here):
    its input tensor (the producer's storage, shared), its output tensor, and `kept` tensors
    of its own. `view`: its output shares the input's storage (flatten, identity); `layout`:
    how its output is laid out (None: as its input)."""

    input: bool = False
    output: bool = False
    kept: tuple[Kept, ...] = ()
    view: bool = False
    layout: str | None = None


NOTHING = Saves()
VIEW = Saves(view=True)
INPUT = Saves(input=True)
OUTPUT = Saves(output=True)


@record
class JoinSaves:
    """What a join keeps: the outputs of the branches numbered in `branches` (their storage,
    shared with whatever made them) and `kept` tensors of its own (a product's partial
    products), when its output requires grad."""

    branches: tuple[int, ...] = ()
    kept: tuple[Kept, ...] = ()
    layout: str = CONTIGUOUS  # how its output is laid out
