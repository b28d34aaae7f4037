"""The preprocessing a trained run expects, as recorded in its checkpoint.json: one function,
`preprocess_image`, used by `archc predict` and copied verbatim into `archc export -o m.py`
(and its numbers into ONNX metadata), so both give the network the numbers training gave it.

It mirrors training's evaluation path step by step (archc/train/folder.py `decode`, then
archc/train/batches.py): decode to L or RGB (resized, shorter side then a centre crop, when the
recipe resizes), the channel count the network takes, a bilinear antialiased resize to its
height and width if they differ, scaling to [0, 1], then (x - mean) / std per channel."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

# preprocess_image is copied verbatim into exported files, which import `torch` and `from torch
# import Tensor, nn` and not `from __future__ import annotations`: its annotations are evaluated
# there, so they name builtins and Tensor only, and the image's type is a string (ruff's UP037
# is off for this file in pyproject.toml).


def preprocess_image(image: "Image.Image | Tensor", input_shape: tuple[int, int, int],
                     resize: int | None = None, mean: list[float] | None = None,
                     std: list[float] | None = None) -> Tensor:
    """A PIL image (or a uint8 tensor C x H x W, as torchvision.io.read_image gives) as the
    float32 tensor C x H x W the network was trained on (add a batch axis: x[None])."""
    import torch
    import torch.nn.functional as F

    channels, height, width = input_shape
    if not isinstance(image, torch.Tensor):  # PIL, as training decoded the image files
        from PIL import Image, ImageOps

        gray = image.mode in {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
        if resize is not None:
            image.draft("L" if gray else "RGB", (resize, resize))  # JPEG: a reduced scale
        image = image.convert("L" if gray else "RGB")
        if resize is not None:
            image = ImageOps.fit(image, (resize, resize), method=Image.Resampling.BILINEAR)
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        image = pixels.reshape(image.height, image.width, -1).permute(2, 0, 1)
    if image.dtype != torch.uint8 or image.dim() != 3:
        raise ValueError(f"expected a PIL image or a uint8 C x H x W tensor, got "
                         f"{image.dtype} {tuple(image.shape)}")
    if image.shape[0] != channels:  # grey among colour: repeat; colour for a grey network
        image = (image.repeat(channels, 1, 1) if image.shape[0] == 1 else
                 image.float().mul(torch.tensor([0.299, 0.587, 0.114])[:, None, None])
                 .sum(0, keepdim=True).round().clamp(0, 255).to(torch.uint8))
    x = image[None]
    if tuple(x.shape[-2:]) != (height, width):  # as training resized: uint8 after resizing
        x = F.interpolate(x.to(torch.float32), size=(height, width), mode="bilinear",
                          align_corners=False, antialias=True).round_().clamp_(0, 255)
        x = x.to(torch.uint8)
    x = x.to(torch.float32).div_(255)
    if mean is not None and std is not None:
        m = torch.tensor(mean, dtype=torch.float32).expand(channels).reshape(1, channels, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).expand(channels).reshape(1, channels, 1, 1)
        x = x.sub_(m).div_(s)
    return x[0]


@dataclass(frozen=True)
class Preprocessing:
    """What a run's network expects of its input, and what its outputs name."""

    input_shape: tuple[int, int, int]
    resize: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] = ()

    @classmethod
    def from_run(cls, index: dict[str, Any]) -> Preprocessing | None:
        """From a checkpoint index; None where it records no image input."""
        shape = index.get("input_shape")
        recipe = index.get("recipe") if isinstance(index.get("recipe"), dict) else {}
        assert isinstance(recipe, dict)
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(d, int) for d in shape)):
            return None
        normalize = bool(recipe.get("normalize")) and recipe.get("mean") and recipe.get("std")
        resize = recipe.get("resize")
        names = index.get("class_names")
        return cls((shape[0], shape[1], shape[2]),
                   resize if isinstance(resize, int) else None,
                   tuple(map(float, recipe["mean"])) if normalize else None,
                   tuple(map(float, recipe["std"])) if normalize else None,
                   tuple(str(n) for n in names) if isinstance(names, list) else ())

    def __call__(self, image: Any) -> Any:
        return preprocess_image(image, self.input_shape, self.resize,
                                list(self.mean) if self.mean else None,
                                list(self.std) if self.std else None)

    def to_json(self) -> dict[str, Any]:
        """For ONNX metadata_props (one JSON value per key) and `predict --format json`."""
        return {"input_shape": list(self.input_shape), "resize": self.resize,
                "scale": 1 / 255, "mean": list(self.mean) if self.mean else None,
                "std": list(self.std) if self.std else None,
                "class_names": list(self.class_names)}

    def metadata(self) -> dict[str, str]:
        """ONNX metadata_props: string keys and string (JSON) values."""
        return {f"archc.{k}": json.dumps(v) for k, v in self.to_json().items()} | {
            "archc.preprocessing": "decode to L or RGB; if resize: shorter side to resize, "
            "centre crop; bilinear antialiased resize to input_shape's HxW; x / 255; "
            "(x - mean) / std per channel when mean is not null"}

    def python_source(self) -> str:
        """Constants and `preprocess(image)` for an exported .py file."""
        mean = list(self.mean) if self.mean else None
        std = list(self.std) if self.std else None
        return "\n".join([
            "", "", "# The preprocessing the weights were trained with (archc export --weights).",
            f"INPUT_SHAPE = {self.input_shape!r}  # C, H, W",
            f"RESIZE = {self.resize!r}  # decode: shorter side to RESIZE, centre crop",
            f"MEAN = {mean!r}  # after scaling to [0, 1]",
            f"STD = {std!r}",
            f"CLASS_NAMES = {json.dumps(list(self.class_names))}",
            "", "", inspect.getsource(preprocess_image).rstrip(), "", "",
            "def preprocess(image):",
            '    """A PIL image or a uint8 C x H x W tensor -> the float32 C x H x W tensor '
            'this',
            '    model was trained on: model(preprocess(image)[None]).softmax(1)."""',
            "    return preprocess_image(image, INPUT_SHAPE, RESIZE, MEAN, STD)", ""])
