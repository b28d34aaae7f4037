"""Hand-written PyTorch ground truth for the seed documents' models (bugs fixed).

Submodules carry torchvision-like names so compiled modules can be mapped onto them by name.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# 000 §6.1.2: batch normalisation from scratch (corrected)
# ---------------------------------------------------------------------------


def batch_norm_scratch(is_training, X, gamma, beta, moving_mean, moving_var, eps, momentum):
    """000: batch_norm. Returns (Y, new_moving_mean, new_moving_var)."""
    if not is_training:
        # prediction mode: use the moving statistics passed in
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:  # 000 has `if len(X.shape ):`, always true; means == 2
            # fully connected: statistics over the feature dimension
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            # convolution: per-channel statistics over (N, H, W)
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        # biased batch variance goes into the moving average (nn.BatchNorm uses unbiased)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # scale and shift
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    """000: BatchNorm(num_features, num_dims); moving stats are buffers, var starts at 1."""

    def __init__(self, num_features: int, num_dims: int):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))  # 000 has `self.beta ==`
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.ones(shape))  # 000 initialises it to 0

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # 000 passes (moving_var, moving_mean) swapped; fixed order here
        Y, mean, var = batch_norm_scratch(
            self.training, X, self.gamma, self.beta,
            self.moving_mean, self.moving_var, eps=1e-5, momentum=0.9,
        )
        self.moving_mean.copy_(mean)
        self.moving_var.copy_(var)
        return Y


def _seq(*pairs) -> nn.Sequential:
    return nn.Sequential(OrderedDict(pairs))


# ---------------------------------------------------------------------------
# book ch6: LeNet; 000 §6.1.3 / §6.1.4: LeNet with batch norm
# ---------------------------------------------------------------------------


def lenet() -> nn.Sequential:
    """d2l LeNet (sigmoid, average pooling), 1x28x28 -> 10."""
    return _seq(
        ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)), ("sig1", nn.Sigmoid()),
        ("pool1", nn.AvgPool2d(kernel_size=2, stride=2)),
        ("conv2", nn.Conv2d(6, 16, kernel_size=5)), ("sig2", nn.Sigmoid()),
        ("pool2", nn.AvgPool2d(kernel_size=2, stride=2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 5 * 5, 120)), ("sig3", nn.Sigmoid()),
        ("fc2", nn.Linear(120, 84)), ("sig4", nn.Sigmoid()),
        ("fc3", nn.Linear(84, 10)),
    )


def _lenet_bn(bn2d, bn1d) -> nn.Sequential:
    # 000 §6.1.3: conv1 has no padding, max pooling, BN before every sigmoid
    return _seq(
        ("conv1", nn.Conv2d(1, 6, kernel_size=5)), ("bn1", bn2d(6)), ("sig1", nn.Sigmoid()),
        ("pool1", nn.MaxPool2d(kernel_size=2, stride=2)),
        ("conv2", nn.Conv2d(6, 16, kernel_size=5)), ("bn2", bn2d(16)), ("sig2", nn.Sigmoid()),
        ("pool2", nn.MaxPool2d(kernel_size=2, stride=2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 4 * 4, 120)), ("bn3", bn1d(120)), ("sig3", nn.Sigmoid()),
        ("fc2", nn.Linear(120, 84)), ("bn4", bn1d(84)), ("sig4", nn.Sigmoid()),
        ("fc3", nn.Linear(84, 10)),
    )


def lenet_bn() -> nn.Sequential:
    """000 §6.1.4: concise LeNet-BN with nn.BatchNorm2d / nn.BatchNorm1d."""
    return _lenet_bn(nn.BatchNorm2d, nn.BatchNorm1d)


def lenet_bn_scratch() -> nn.Sequential:
    """000 §6.1.3: LeNet-BN with the from-scratch BatchNorm class."""
    return _lenet_bn(lambda c: BatchNorm(c, num_dims=4), lambda c: BatchNorm(c, num_dims=2))


# ---------------------------------------------------------------------------
# 001: InceptionA + Net, ResidualBlock + Net (Net2) for MNIST
# ---------------------------------------------------------------------------


class InceptionA(nn.Module):
    """001: InceptionA; 4 branches (16 + 24 + 24 + 24 = 88 channels), no activations."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3 = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch5x5, branch3x3, branch_pool], dim=1)


class InceptionNet(nn.Module):
    """001: Net with two InceptionA blocks; max pooling is applied BEFORE relu."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(88, 20, kernel_size=5)
        self.incep1 = InceptionA(in_channels=10)
        self.incep2 = InceptionA(in_channels=20)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(1408, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_size = x.size(0)
        x = F.relu(self.mp(self.conv1(x)))
        x = self.incep1(x)
        x = F.relu(self.mp(self.conv2(x)))
        x = self.incep2(x)
        return self.fc(x.view(in_size, -1))


class ResidualBlock(nn.Module):
    """001: ResidualBlock; shortcut added before the final relu."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        y = self.conv2(y)
        return F.relu(y + x)


class ResNetMNIST(nn.Module):
    """001: Net (declared `super(Net2, self)`); relu BEFORE max pooling here; no print."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.mp = nn.MaxPool2d(2)
        self.rcblock1 = ResidualBlock(16)
        self.rcblock2 = ResidualBlock(32)
        self.fc = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_size = x.size(0)
        x = self.mp(F.relu(self.conv1(x)))
        x = self.rcblock1(x)
        x = self.mp(F.relu(self.conv2(x)))
        x = self.rcblock2(x)
        return self.fc(x.view(batch_size, -1))


def inception_mnist() -> InceptionNet:
    return InceptionNet()


def resnet_mnist() -> ResNetMNIST:
    return ResNetMNIST()


# ---------------------------------------------------------------------------
# 002: Residual(use_1x1conv, strides) + resnet_block -> ResNet-18
# ---------------------------------------------------------------------------


class Residual(nn.Module):
    """002: Residual; conv3 is the optional 1x1 projection shortcut (no BN on it)."""

    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = (nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
                      if use_1x1conv else None)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)
        self.relu = nn.ReLU()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y = self.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return self.relu(Y + X)  # shortcut added before the final relu


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    """002: resnet_block; the first residual of a non-first stage halves H, W."""
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return nn.Sequential(*blk)


def resnet18() -> nn.Sequential:
    """002: b1 = conv1/bn1/relu/maxpool, b2..b5 = layer1..layer4, then avgpool/flatten/fc."""
    return _seq(
        ("conv1", nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3)),
        ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()),
        ("maxpool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ("layer1", resnet_block(64, 64, 2, first_block=True)),
        ("layer2", resnet_block(64, 128, 2)),
        ("layer3", resnet_block(128, 256, 2)),
        ("layer4", resnet_block(256, 512, 2)),
        ("avgpool", nn.AdaptiveAvgPool2d((1, 1))),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(512, 10)),
    )


# 002: the document's stage variables b1..b5 -> the module ending each stage above
RESNET18_DOC_STAGES = {"b1": "maxpool", "b2": "layer1", "b3": "layer2", "b4": "layer3",
                       "b5": "layer4"}

# 002: printed shape table at input 1x1x224x224 (C, H, W per module, batch dim dropped)
RESNET18_STAGE_SHAPES_224 = {
    "b1": (64, 56, 56),
    "b2": (64, 56, 56),
    "b3": (128, 28, 28),
    "b4": (256, 14, 14),
    "b5": (512, 7, 7),
    "avgpool": (512, 1, 1),
    "flatten": (512,),
    "fc": (10,),
}


# ---------------------------------------------------------------------------
# 003: nin_block + NiN
# ---------------------------------------------------------------------------


def nin_block(in_channels, out_channels, kernel_size, strides, padding) -> nn.Sequential:
    """003: nin_block; one kxk conv then two 1x1 convs, each followed by ReLU."""
    return _seq(
        ("conv1", nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(out_channels, out_channels, kernel_size=1)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(out_channels, out_channels, kernel_size=1)), ("relu3", nn.ReLU()),
    )


def nin() -> nn.Sequential:
    """003: NiN for 1x224x224 input, 10 classes, no fully connected layer."""
    return _seq(
        ("block1", nin_block(1, 96, kernel_size=11, strides=4, padding=0)),
        ("pool1", nn.MaxPool2d(3, stride=2)),
        ("block2", nin_block(96, 256, kernel_size=5, strides=1, padding=2)),
        ("pool2", nn.MaxPool2d(3, stride=2)),
        ("block3", nin_block(256, 384, kernel_size=3, strides=1, padding=1)),
        ("pool3", nn.MaxPool2d(3, stride=2)),
        ("dropout", nn.Dropout(0.5)),
        ("block4", nin_block(384, 10, kernel_size=3, strides=1, padding=1)),
        ("avgpool", nn.AdaptiveAvgPool2d((1, 1))),
        ("flatten", nn.Flatten()),
    )


# 003: output shape after each top-level module at input 1x1x224x224 (C, H, W)
NIN_BLOCK_SHAPES_224 = {
    "block1": (96, 54, 54),
    "pool1": (96, 26, 26),
    "block2": (256, 26, 26),
    "pool2": (256, 12, 12),
    "block3": (384, 12, 12),
    "pool3": (384, 5, 5),
    "dropout": (384, 5, 5),
    "block4": (10, 5, 5),
    "avgpool": (10, 1, 1),
    "flatten": (10,),
}


# ---------------------------------------------------------------------------
# book ch7: AlexNet, VGG-11 (only named in the seeds; d2l PyTorch definitions)
# ---------------------------------------------------------------------------


def _classifier(in_features: int) -> nn.Sequential:
    # d2l AlexNet / VGG head: Linear ReLU Dropout, Linear ReLU Dropout, Linear
    return _seq(
        ("fc1", nn.Linear(in_features, 4096)), ("relu1", nn.ReLU()),
        ("dropout1", nn.Dropout(p=0.5)),
        ("fc2", nn.Linear(4096, 4096)), ("relu2", nn.ReLU()),
        ("dropout2", nn.Dropout(p=0.5)),
        ("fc3", nn.Linear(4096, 10)),
    )


def alexnet() -> nn.Sequential:
    """d2l AlexNet for 1x224x224 input, 10 classes."""
    features = _seq(
        ("conv1", nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
        ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2)), ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
        ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1)), ("relu5", nn.ReLU()),
        ("pool3", nn.MaxPool2d(kernel_size=3, stride=2)),
    )
    return _seq(("features", features), ("flatten", nn.Flatten()),
                ("classifier", _classifier(256 * 5 * 5)))


VGG11_CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """d2l vgg_block: num_convs x (Conv3x3 pad 1, ReLU), then MaxPool(2, 2)."""
    layers = []
    for i in range(1, num_convs + 1):
        layers.append((f"conv{i}", nn.Conv2d(in_channels, out_channels, 3, padding=1)))
        layers.append((f"relu{i}", nn.ReLU()))
        in_channels = out_channels
    layers.append(("pool", nn.MaxPool2d(kernel_size=2, stride=2)))
    return _seq(*layers)


def vgg11(ratio: int = 1) -> nn.Sequential:
    """d2l VGG-11; ratio divides conv channels only (small_conv_arch), FC width stays 4096."""
    blocks, in_channels = [], 1
    for i, (num_convs, channels) in enumerate(VGG11_CONV_ARCH, start=1):
        blocks.append((f"block{i}", vgg_block(num_convs, in_channels, channels // ratio)))
        in_channels = channels // ratio
    return _seq(("features", _seq(*blocks)), ("flatten", nn.Flatten()),
                ("classifier", _classifier(in_channels * 7 * 7)))


# ---------------------------------------------------------------------------
# book ch7: GoogLeNet (d2l Inception, 4 paths, ReLU after every conv)
# ---------------------------------------------------------------------------


class Inception(nn.Module):
    """d2l Inception(in_channels, c1, c2, c3, c4); output c1 + c2[1] + c3[1] + c4 channels."""

    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def _maxpool_3s2() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


def googlenet() -> nn.Sequential:
    """d2l GoogLeNet b1..b5 + Linear(1024, 10), torchvision-style names, 1x96x96 input."""
    return _seq(
        # b1
        ("conv1", nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3)), ("relu1", nn.ReLU()),
        ("maxpool1", _maxpool_3s2()),
        # b2
        ("conv2", nn.Conv2d(64, 64, kernel_size=1)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(64, 192, kernel_size=3, padding=1)), ("relu3", nn.ReLU()),
        ("maxpool2", _maxpool_3s2()),
        # b3
        ("inception3a", Inception(192, 64, (96, 128), (16, 32), 32)),
        ("inception3b", Inception(256, 128, (128, 192), (32, 96), 64)),
        ("maxpool3", _maxpool_3s2()),
        # b4
        ("inception4a", Inception(480, 192, (96, 208), (16, 48), 64)),
        ("inception4b", Inception(512, 160, (112, 224), (24, 64), 64)),
        ("inception4c", Inception(512, 128, (128, 256), (24, 64), 64)),
        ("inception4d", Inception(512, 112, (144, 288), (32, 64), 64)),
        ("inception4e", Inception(528, 256, (160, 320), (32, 128), 128)),
        ("maxpool4", _maxpool_3s2()),
        # b5
        ("inception5a", Inception(832, 256, (160, 320), (32, 128), 128)),
        ("inception5b", Inception(832, 384, (192, 384), (48, 128), 128)),
        ("avgpool", nn.AdaptiveAvgPool2d((1, 1))),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(1024, 10)),
    )


# ---------------------------------------------------------------------------
# book ch7 / 000 §6.3: DenseNet (d2l conv_block, DenseBlock, transition_block)
# ---------------------------------------------------------------------------


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """d2l conv_block: BN -> ReLU -> Conv3x3 (pad 1)."""
    return _seq(("norm", nn.BatchNorm2d(in_channels)), ("relu", nn.ReLU()),
                ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)))


class DenseBlock(nn.Module):
    """d2l DenseBlock; each layer's output is concatenated to its input on channels."""

    def __init__(self, num_convs: int, in_channels: int, num_channels: int):
        super().__init__()
        for i in range(num_convs):
            layer = conv_block(num_channels * i + in_channels, num_channels)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for blk in self.children():
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """d2l transition_block: BN -> ReLU -> Conv1x1 -> AvgPool(2, 2)."""
    return _seq(("norm", nn.BatchNorm2d(in_channels)), ("relu", nn.ReLU()),
                ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1)),
                ("pool", nn.AvgPool2d(kernel_size=2, stride=2)))


def densenet(growth_rate: int = 32, num_convs_in_dense_blocks=(4, 4, 4, 4)) -> nn.Sequential:
    """d2l DenseNet for 1x96x96 input, 10 classes."""
    layers = [("conv0", nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3)),
              ("norm0", nn.BatchNorm2d(64)), ("relu0", nn.ReLU()),
              ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
    num_channels = 64
    for i, num_convs in enumerate(num_convs_in_dense_blocks, start=1):
        layers.append((f"denseblock{i}", DenseBlock(num_convs, num_channels, growth_rate)))
        num_channels += num_convs * growth_rate
        if i != len(num_convs_in_dense_blocks):  # transition halves channels and H, W
            layers.append((f"transition{i}", transition_block(num_channels, num_channels // 2)))
            num_channels //= 2
    layers += [("norm5", nn.BatchNorm2d(num_channels)), ("relu5", nn.ReLU())]
    return _seq(("features", _seq(*layers)), ("avgpool", nn.AdaptiveAvgPool2d((1, 1))),
                ("flatten", nn.Flatten()), ("classifier", nn.Linear(num_channels, 10)))


# ---------------------------------------------------------------------------
# U-Net (Ronneberger et al. 2015), small, same-padded (specs/unet.arch)
# ---------------------------------------------------------------------------


def _double_conv(cin: int, c: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(cin, c, 3, padding=1, bias=False)), ("bn1", nn.BatchNorm2d(c)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(c, c, 3, padding=1, bias=False)), ("bn2", nn.BatchNorm2d(c)),
        ("relu2", nn.ReLU())]))


class UNet(nn.Module):
    def __init__(self, c: int = 16, classes: int = 1, cin: int = 1):
        super().__init__()
        self.enc1 = _double_conv(cin, c)
        self.down1 = nn.MaxPool2d(2)
        self.enc2 = _double_conv(c, 2 * c)
        self.down2 = nn.MaxPool2d(2)
        self.bottom = _double_conv(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = _double_conv(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = _double_conv(2 * c, c)
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(x)
        s2 = self.enc2(self.down1(s1))
        y = self.up2(self.bottom(self.down2(s2)))
        y = self.up1(self.dec2(torch.cat([s2, y], dim=1)))
        return self.head(self.dec1(torch.cat([s1, y], dim=1)))


def unet() -> UNet:
    return UNet()


# ----------------------------------------------------------------------------- audio: M5
# Dai et al. 2017, table 1 (M5): conv [80/4, 128], then [3, 128], [3, 256], [3, 512], each with
# batch norm, ReLU and a 4-wide max pool; global average pooling, a linear classifier (as in
# torchaudio's speech commands tutorial), on the raw 1 x 32,000 waveform.
class M5(nn.Module):
    def __init__(self, width: int = 128, classes: int = 10):
        super().__init__()
        specs = [(1, width, 80, 4), (width, width, 3, 1), (width, 2 * width, 3, 1),
                 (2 * width, 4 * width, 3, 1)]
        for i, (cin, c, k, stride) in enumerate(specs, 1):
            self.add_module(f"layer{i}", nn.Sequential(OrderedDict([
                ("conv", nn.Conv1d(cin, c, k, stride=stride)), ("bn", nn.BatchNorm1d(c)),
                ("relu", nn.ReLU()), ("maxpool", nn.MaxPool1d(4))])))
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean(dim=-1))  # F.avg_pool1d over the whole signal


def m5() -> M5:
    return M5()
