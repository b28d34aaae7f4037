"""Stage 3 helper for archc/export/python.py: the modules torch.nn lacks, as an exported file
writes them: each class's text is read from archc/emit/layers.py (parsed, not imported, so
exporting stays torch-free until the file runs), the very classes archc.build uses, so an
exported model computes what archc's does and a state_dict loads into either. An op's Source
names the classes it needs (`Source.support`); `NEEDS` says which imports beyond `torch` and
`nn` a class uses."""

from __future__ import annotations

import ast
from pathlib import Path

CLASSES = ("LayerNorm2d", "FrozenBatchNorm2d", "ChannelLinear", "StochasticDepth", "Tokens",
           "SelectToken", "SelfAttention", "Conv1D", "PositionEmbedding", "CausalSelfAttention")
# the windowed-attention modules, in their own file (archc/emit/layers_windows.py)
WINDOW_CLASSES = ("PatchConcat", "WindowAttention", "PartitionAttention")


def _classes(path: Path, classes: tuple[str, ...]) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    found = {node.name: ast.get_source_segment(text, node)
             for node in ast.parse(text).body if isinstance(node, ast.ClassDef)}
    return {name: f"\n{found[name]}\n" for name in classes}


_EMIT = Path(__file__).resolve().parent.parent / "emit"  # the classes' home
SUPPORT: dict[str, str] = {**_classes(_EMIT / "layers.py", CLASSES),
                           **_classes(_EMIT / "layers_windows.py",
                                      WINDOW_CLASSES)}

# imports a support class needs beyond `import torch` and `from torch import Tensor, nn`
NEEDS: dict[str, str] = {"LayerNorm2d": "import torch.nn.functional as F",
                         "ChannelLinear": "import torch.nn.functional as F",
                         "CausalSelfAttention": "import torch.nn.functional as F",
                         "SelfAttention": "import torch.nn.functional as F",
                         "PositionEmbedding": "import torch.nn.functional as F",
                         **dict.fromkeys(WINDOW_CLASSES, "import torch.nn.functional as F")}
