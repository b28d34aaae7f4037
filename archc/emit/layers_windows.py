"""Stage 3, the torch modules behind the windowed-attention ops (archc/registry/ops_windows.py),
each computing exactly what torchvision's counterpart computes and holding its
parameters and buffers under the same names: Swin's shifted-window attention v1 and v2
(swin_transformer.shifted_window_attention) and MaxViT's window/grid attention
(maxvit.RelativePositionalMultiHeadAttention between WindowPartition and
WindowDepartition). All of them take and give NxCxHxW, as every archc image op does.
Written as an exported file writes them (archc/export/support.py copies the classes'
text): 88 columns, `ruff format`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PatchConcat(nn.Module):
    """NxCxHxW -> Nx(k*k*C)x(H/k)x(W/k), H and W padded up to multiples of k: the k*k
    strided sub-images concatenated along the channels, column-major in their offsets
    (Swin's _patch_merging_pad: x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2,
    1::2])."""

    def __init__(self, k: int = 2) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        k, (h, w) = self.k, x.shape[-2:]
        x = F.pad(x, (0, -w % k, 0, -h % k))
        parts: list[Tensor] = []
        for j in range(k):
            for i in range(k):
                parts.append(x[..., i::k, j::k])
        return torch.cat(parts, 1)

    def extra_repr(self) -> str:
        return f"k={self.k}"


class WindowAttention(nn.Module):
    """Swin's (shifted) window attention on NxCxHxW: pad to whole windows, roll by
    -shift, multi-head self-attention within each window plus a relative position bias
    (v1: a learned table; v2, `cosine`: cosine attention with a learned logit scale and
    a bias from a small MLP of log-spaced relative coordinates), the shifted windows'
    mask, roll back, unpad. Names as swin_transformer.ShiftedWindowAttention(V2): qkv,
    proj, relative_position_bias_table (v1), logit_scale and cpb_mlp (v2), and the
    buffers relative_position_index and relative_coords_table (v2), which torchvision's
    state_dict carries; forward derives both from the window size instead of reading
    them."""

    __constants__ = ["cosine"]  # TorchScript compiles only the branch of this version

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        shift: int = 0,
        cosine: bool = False,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.heads, self.window, self.shift, self.cosine = heads, window, shift, cosine
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        side = 2 * window - 1
        if cosine:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
            self.cpb_mlp = nn.Sequential(
                nn.Linear(2, 512),
                nn.ReLU(inplace=True),
                nn.Linear(512, heads, bias=False),
            )
            self.register_buffer("relative_coords_table", self.coords_table())
        else:
            table = torch.zeros(side * side, heads)
            self.relative_position_bias_table = nn.Parameter(table)
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", self.position_index())

    def position_index(self) -> Tensor:
        """window^2 x window^2 indices into the (2 window - 1)^2 relative offsets."""
        ws = self.window
        coords = torch.stack(
            torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
        ).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        return rel.sum(-1).flatten()

    def coords_table(self) -> Tensor:
        """Swin v2's log-spaced relative coordinates, 1 x (2w-1) x (2w-1) x 2, in [-1,
        1]."""
        ws = self.window
        r = torch.arange(-(ws - 1), ws, dtype=torch.float32)
        table = torch.stack(torch.meshgrid([r, r], indexing="ij")).permute(1, 2, 0)
        table = table.contiguous().unsqueeze(0) / (ws - 1) * 8
        return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0

    def position_bias(self, x: Tensor) -> Tensor:
        n = self.window * self.window
        if self.cosine:
            table = self.cpb_mlp(self.coords_table().to(x)).view(-1, self.heads)
        else:
            table = self.relative_position_bias_table
        bias = table[self.position_index().to(x.device)].view(n, n, -1)
        bias = bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        return 16 * torch.sigmoid(bias) if self.cosine else bias

    def mask(self, x: Tensor, ph: int, pw: int, shift: list[int]) -> Tensor:
        """-100 between tokens of a shifted window that came from different regions."""
        ws = self.window
        mask = x.new_zeros((ph, pw))
        count = 0
        for h in ((0, -ws), (-ws, -shift[0]), (-shift[0], None)):
            for w in ((0, -ws), (-ws, -shift[1]), (-shift[1], None)):
                mask[h[0] : h[1], w[0] : w[1]] = count
                count += 1
        mask = mask.view(ph // ws, ws, pw // ws, ws).permute(0, 2, 1, 3)
        mask = mask.reshape(-1, ws * ws)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        ws, heads = self.window, self.heads
        x = x.permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        x = F.pad(x, (0, 0, 0, -w % ws, 0, -h % ws))
        _, ph, pw, _ = x.shape
        shift = [0 if ws >= ph else self.shift, 0 if ws >= pw else self.shift]
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (ph // ws) * (pw // ws)
        x = x.view(b, ph // ws, ws, pw // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b * windows, ws * ws, c)
        qkv_bias: Tensor = self.qkv.bias
        if self.cosine:  # v2 uses no key bias
            qkv_bias = qkv_bias.clone()
            qkv_bias[c : 2 * c].zero_()
        qkv = F.linear(x, self.qkv.weight, qkv_bias)
        qkv = qkv.reshape(x.size(0), x.size(1), 3, heads, c // heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.cosine:
            attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
            scale = torch.clamp(self.logit_scale, max=4.605170185988092)  # log(100)
            attn = attn * scale.exp()
        else:
            attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
        attn = attn + self.position_bias(x)
        if sum(shift) > 0:
            n = x.size(1)
            attn = attn.view(b, windows, heads, n, n)
            attn = attn + self.mask(x, ph, pw, shift).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = F.softmax(attn, dim=-1)
        attn = F.dropout(attn, p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
        x = F.linear(x, self.proj.weight, self.proj.bias)
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = x.view(b, ph // ws, pw // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, ph, pw, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous().permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"heads={self.heads}, window={self.window}, shift={self.shift}, "
            f"cosine={self.cosine}"
        )


class PartitionAttention(nn.Module):
    """MaxViT's block (`grid` false) or grid attention on NxCxHxW: the image cut into
    size x size windows, or into size x size grids of tokens spaced H/size apart, and
    multi-head attention with a learned relative position bias within each (keys scaled
    by C^-0.5, as maxvit.RelativePositionalMultiHeadAttention does). Names as
    torchvision's: to_qkv, merge, relative_position_bias_table and the buffer
    relative_position_index (which forward derives from the size, not reading it)."""

    def __init__(self, dim: int, heads: int, size: int, grid: bool = False) -> None:
        super().__init__()
        self.heads, self.size, self.grid = heads, size, grid
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.merge = nn.Linear(dim, dim)
        table = torch.empty((2 * size - 1) ** 2, heads)
        self.relative_position_bias_table = nn.Parameter(table)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", self.position_index())

    def position_index(self) -> Tensor:
        """size^2 x size^2 indices into the (2 size - 1)^2 relative offsets."""
        s = self.size
        coords = torch.stack(
            torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        ).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel += s - 1
        rel[:, :, 0] *= 2 * s - 1
        return rel.sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = h // self.size if self.grid else self.size  # WindowPartition's p
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        x = x.reshape(b, (h // p) * (w // p), p * p, c)
        if self.grid:
            x = x.swapaxes(-2, -3)
        g, n, heads = x.shape[1], x.shape[2], self.heads
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q = q.reshape(b, g, n, heads, c // heads).permute(0, 1, 3, 2, 4)
        k = k.reshape(b, g, n, heads, c // heads).permute(0, 1, 3, 2, 4)
        v = v.reshape(b, g, n, heads, c // heads).permute(0, 1, 3, 2, 4)
        k = k * c**-0.5
        attn = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
        index = self.position_index().to(x.device).view(-1)
        bias = self.relative_position_bias_table[index].view(n, n, -1)
        attn = F.softmax(attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0), dim=-1)
        x = torch.einsum("B G H I J, B G H J D -> B G H I D", attn, v)
        x = self.merge(x.permute(0, 1, 3, 2, 4).reshape(b, g, n, c))
        if self.grid:
            x = x.swapaxes(-2, -3)
        x = x.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, h, w).contiguous()

    def extra_repr(self) -> str:
        return f"heads={self.heads}, size={self.size}, grid={self.grid}"
