"""The zoo: every bundled family member as data, in one table: its spec, the `--set` values that
select it, the torchvision builder it equals and that builder's weight enum with the checkpoint
file names users have. `archc list`, `archc import-weights` (which member a checkpoint file is)
and the equivalence tests (tests/test_zoo.py) all read this table. No torch here.
(Over 400 lines: it is the table, one record per member.)"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archc.core.errors import UsageError, did_you_mean
from archc.core.records import record


@record
class Member:
    """One family member: `archc build SPEC --set K=V ...` equals `torchvision.models.NAME()`."""

    name: str  # torchvision's builder name: resnet50, regnet_x_400mf
    spec: str  # the bundled spec (specs/SPEC.arch)
    set: Mapping[str, Any] = field(default_factory=dict)  # --set values selecting the member
    weights: str | None = None  # torchvision's weight enum (ResNet50_Weights)
    files: tuple[str, ...] = ()  # the enum's checkpoint file names (resnet50-11ad3fa6.pth)
    # keyword arguments of the builder call the spec equals (googlenet: no auxiliary heads)
    torchvision_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # where the weights' published num_params counts a larger model than the spec equals: the
    # builder arguments that make it (inception_v3: aux_logits=True, its train-mode AuxLogits
    # head, which the spec leaves out)
    published_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # what it does, and where torchvision builds it: "classification" (torchvision.models,
    # images), "video" (torchvision.models.video: clips CxTxHxW, Kinetics-400),
    # "segmentation" (torchvision.models.segmentation, whose models return a dict) or
    # "backbone" (a feature extractor torchvision.models.detection builds its models on,
    # returning a dict of feature maps; no builder of torchvision.models: see `reference`)
    task: str = "classification"
    # what the member equals where no torchvision.models builder makes it (a backbone): the
    # call, as `archc list` shows it; None: torchvision.models.get_model(name)
    reference: str | None = None

    @property
    def torchvision(self) -> str:
        return self.name

    def set_args(self) -> list[str]:
        """The member as command-line options: ['--set', 'depth=50']."""
        return [a for k, v in self.set.items() for a in ("--set", f"{k}={_text(v)}")]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _m(name: str, spec: str, weights: str, *files: str, tv: dict[str, Any] | None = None,
       published: dict[str, Any] | None = None, task: str = "classification",
       **sets: Any) -> Member:
    return Member(name, spec, MappingProxyType(sets), weights, files,
                  MappingProxyType(tv or {}), MappingProxyType(published or {}), task)


# torchvision 0.29's classification builders, family by family (torchvision.models.list_models;
# tests/test_zoo.py checks weights and files against the enums themselves).
MEMBERS: tuple[Member, ...] = (
    _m("alexnet", "tv_alexnet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth"),
    _m("googlenet", "tv_googlenet", "GoogLeNet_Weights", "googlenet-1378be20.pth",
       tv={"aux_logits": False, "init_weights": True}),
    _m("inception_v3", "tv_inception_v3", "Inception_V3_Weights",
       "inception_v3_google-0cc3c7bd.pth",
       tv={"aux_logits": False, "init_weights": True}, published={"aux_logits": True}),
    _m("resnet18", "tv_resnet", "ResNet18_Weights", "resnet18-f37072fd.pth", depth=18),
    _m("resnet34", "tv_resnet", "ResNet34_Weights", "resnet34-b627a593.pth", depth=34),
    _m("resnet50", "tv_resnet", "ResNet50_Weights", "resnet50-0676ba61.pth",
       "resnet50-11ad3fa6.pth", depth=50),
    _m("resnet101", "tv_resnet", "ResNet101_Weights", "resnet101-63fe2227.pth",
       "resnet101-cd907fc2.pth", depth=101),
    _m("resnet152", "tv_resnet", "ResNet152_Weights", "resnet152-394f9c45.pth",
       "resnet152-f82ba261.pth", depth=152),
    _m("densenet121", "tv_densenet", "DenseNet121_Weights", "densenet121-a639ec97.pth",
       depth=121),
    _m("densenet161", "tv_densenet", "DenseNet161_Weights", "densenet161-8d451a50.pth",
       depth=161),
    _m("densenet169", "tv_densenet", "DenseNet169_Weights", "densenet169-b2777c0a.pth",
       depth=169),
    _m("densenet201", "tv_densenet", "DenseNet201_Weights", "densenet201-c1103571.pth",
       depth=201),
    _m("vgg11", "tv_vgg", "VGG11_Weights", "vgg11-8a719046.pth", depth=11, batch_norm=False),
    _m("vgg11_bn", "tv_vgg", "VGG11_BN_Weights", "vgg11_bn-6002323d.pth", depth=11,
       batch_norm=True),
    _m("vgg13", "tv_vgg", "VGG13_Weights", "vgg13-19584684.pth", depth=13, batch_norm=False),
    _m("vgg13_bn", "tv_vgg", "VGG13_BN_Weights", "vgg13_bn-abd245e5.pth", depth=13,
       batch_norm=True),
    _m("vgg16", "tv_vgg", "VGG16_Weights", "vgg16-397923af.pth",
       "vgg16_features-amdegroot-88682ab5.pth", depth=16, batch_norm=False),
    _m("vgg16_bn", "tv_vgg", "VGG16_BN_Weights", "vgg16_bn-6c64b313.pth", depth=16,
       batch_norm=True),
    _m("vgg19", "tv_vgg", "VGG19_Weights", "vgg19-dcbb9e9d.pth", depth=19, batch_norm=False),
    _m("vgg19_bn", "tv_vgg", "VGG19_BN_Weights", "vgg19_bn-c79401a0.pth", depth=19,
       batch_norm=True),
    _m("resnext50_32x4d", "tv_resnext", "ResNeXt50_32X4D_Weights", "resnext50_32x4d-7cdf4587.pth",
       "resnext50_32x4d-1a0047aa.pth", depth=50, groups=32, width_per_group=4),
    _m("resnext101_32x8d", "tv_resnext", "ResNeXt101_32X8D_Weights",
       "resnext101_32x8d-8ba56ff5.pth", "resnext101_32x8d-110c445d.pth", depth=101, groups=32,
       width_per_group=8),
    _m("resnext101_64x4d", "tv_resnext", "ResNeXt101_64X4D_Weights",
       "resnext101_64x4d-173b62eb.pth", depth=101, groups=64, width_per_group=4),
    _m("wide_resnet50_2", "tv_wide_resnet", "Wide_ResNet50_2_Weights",
       "wide_resnet50_2-95faca4d.pth", "wide_resnet50_2-9ba9bcbe.pth", depth=50),
    _m("wide_resnet101_2", "tv_wide_resnet", "Wide_ResNet101_2_Weights",
       "wide_resnet101_2-32ee1156.pth", "wide_resnet101_2-d733dc28.pth", depth=101),
    _m("squeezenet1_0", "tv_squeezenet", "SqueezeNet1_0_Weights", "squeezenet1_0-b66bff10.pth",
       version=1.0),
    _m("squeezenet1_1", "tv_squeezenet", "SqueezeNet1_1_Weights", "squeezenet1_1-b8a52dc0.pth",
       version=1.1),
    _m("mnasnet0_5", "tv_mnasnet", "MNASNet0_5_Weights", "mnasnet0.5_top1_67.823-3ffadce67e.pth",
       alpha=0.5),
    _m("mnasnet0_75", "tv_mnasnet", "MNASNet0_75_Weights", "mnasnet0_75-7090bc5f.pth",
       alpha=0.75),
    _m("mnasnet1_0", "tv_mnasnet", "MNASNet1_0_Weights", "mnasnet1.0_top1_73.512-f206786ef8.pth",
       alpha=1.0),
    _m("mnasnet1_3", "tv_mnasnet", "MNASNet1_3_Weights", "mnasnet1_3-a4c69d6f.pth", alpha=1.3),
    _m("regnet_x_400mf", "tv_regnet", "RegNet_X_400MF_Weights", "regnet_x_400mf-adf1edd5.pth",
       "regnet_x_400mf-62229a5f.pth", variant="x_400mf"),
    _m("regnet_x_800mf", "tv_regnet", "RegNet_X_800MF_Weights", "regnet_x_800mf-ad17e45c.pth",
       "regnet_x_800mf-94a99ebd.pth", variant="x_800mf"),
    _m("regnet_x_1_6gf", "tv_regnet", "RegNet_X_1_6GF_Weights", "regnet_x_1_6gf-e3633e7f.pth",
       "regnet_x_1_6gf-a12f2b72.pth", variant="x_1_6gf"),
    _m("regnet_x_3_2gf", "tv_regnet", "RegNet_X_3_2GF_Weights", "regnet_x_3_2gf-f342aeae.pth",
       "regnet_x_3_2gf-7071aa85.pth", variant="x_3_2gf"),
    _m("regnet_x_8gf", "tv_regnet", "RegNet_X_8GF_Weights", "regnet_x_8gf-03ceed89.pth",
       "regnet_x_8gf-2b70d774.pth", variant="x_8gf"),
    _m("regnet_x_16gf", "tv_regnet", "RegNet_X_16GF_Weights", "regnet_x_16gf-2007eb11.pth",
       "regnet_x_16gf-ba3796d7.pth", variant="x_16gf"),
    _m("regnet_x_32gf", "tv_regnet", "RegNet_X_32GF_Weights", "regnet_x_32gf-9d47f8d0.pth",
       "regnet_x_32gf-6eb8fdc6.pth", variant="x_32gf"),
    _m("regnet_y_400mf", "tv_regnet", "RegNet_Y_400MF_Weights",
       "regnet_y_400mf-c65dace8.pth", "regnet_y_400mf-e6988f5f.pth", variant="y_400mf"),
    _m("regnet_y_800mf", "tv_regnet", "RegNet_Y_800MF_Weights",
       "regnet_y_800mf-1b27b58c.pth", "regnet_y_800mf-58fc7688.pth", variant="y_800mf"),
    _m("regnet_y_1_6gf", "tv_regnet", "RegNet_Y_1_6GF_Weights",
       "regnet_y_1_6gf-b11a554e.pth", "regnet_y_1_6gf-0d7bc02a.pth", variant="y_1_6gf"),
    _m("regnet_y_3_2gf", "tv_regnet", "RegNet_Y_3_2GF_Weights",
       "regnet_y_3_2gf-b5a9779c.pth", "regnet_y_3_2gf-9180c971.pth", variant="y_3_2gf"),
    _m("regnet_y_8gf", "tv_regnet", "RegNet_Y_8GF_Weights",
       "regnet_y_8gf-d0d0e4a8.pth", "regnet_y_8gf-dc2b1b54.pth", variant="y_8gf"),
    _m("regnet_y_16gf", "tv_regnet", "RegNet_Y_16GF_Weights",
       "regnet_y_16gf-9e6ed7dd.pth", "regnet_y_16gf-3e4a00f9.pth",
       "regnet_y_16gf_swag-43afe44d.pth", "regnet_y_16gf_lc_swag-f3ec0043.pth", variant="y_16gf"),
    _m("regnet_y_32gf", "tv_regnet", "RegNet_Y_32GF_Weights",
       "regnet_y_32gf-4dee3f7a.pth", "regnet_y_32gf-8db6d4b5.pth",
       "regnet_y_32gf_swag-04fdfa75.pth", "regnet_y_32gf_lc_swag-e1583746.pth", variant="y_32gf"),
    _m("regnet_y_128gf", "tv_regnet", "RegNet_Y_128GF_Weights",
       "regnet_y_128gf_swag-c8ce3e52.pth", "regnet_y_128gf_lc_swag-cbe8ce12.pth",
       variant="y_128gf"),
    _m("efficientnet_b0", "tv_efficientnet", "EfficientNet_B0_Weights",
       "efficientnet_b0_rwightman-7f5810bc.pth",
       variant="b0"),
    _m("efficientnet_b1", "tv_efficientnet", "EfficientNet_B1_Weights",
       "efficientnet_b1_rwightman-bac287d4.pth", "efficientnet_b1-c27df63c.pth",
       variant="b1"),
    _m("efficientnet_b2", "tv_efficientnet", "EfficientNet_B2_Weights",
       "efficientnet_b2_rwightman-c35c1473.pth",
       variant="b2"),
    _m("efficientnet_b3", "tv_efficientnet", "EfficientNet_B3_Weights",
       "efficientnet_b3_rwightman-b3899882.pth",
       variant="b3"),
    _m("efficientnet_b4", "tv_efficientnet", "EfficientNet_B4_Weights",
       "efficientnet_b4_rwightman-23ab8bcd.pth",
       variant="b4"),
    _m("efficientnet_b5", "tv_efficientnet", "EfficientNet_B5_Weights",
       "efficientnet_b5_lukemelas-1a07897c.pth",
       variant="b5"),
    _m("efficientnet_b6", "tv_efficientnet", "EfficientNet_B6_Weights",
       "efficientnet_b6_lukemelas-24a108a5.pth",
       variant="b6"),
    _m("efficientnet_b7", "tv_efficientnet", "EfficientNet_B7_Weights",
       "efficientnet_b7_lukemelas-c5b4e57e.pth",
       variant="b7"),
    _m("efficientnet_v2_s", "tv_efficientnet_v2", "EfficientNet_V2_S_Weights",
       "efficientnet_v2_s-dd5fe13b.pth", variant="s"),
    _m("efficientnet_v2_m", "tv_efficientnet_v2", "EfficientNet_V2_M_Weights",
       "efficientnet_v2_m-dc08266a.pth", variant="m"),
    _m("efficientnet_v2_l", "tv_efficientnet_v2", "EfficientNet_V2_L_Weights",
       "efficientnet_v2_l-59c71312.pth", variant="l"),
    _m("convnext_tiny", "tv_convnext", "ConvNeXt_Tiny_Weights", "convnext_tiny-983f1562.pth",
       variant="tiny"),
    _m("convnext_small", "tv_convnext", "ConvNeXt_Small_Weights", "convnext_small-0c510722.pth",
       variant="small"),
    _m("convnext_base", "tv_convnext", "ConvNeXt_Base_Weights", "convnext_base-6075fbad.pth",
       variant="base"),
    _m("convnext_large", "tv_convnext", "ConvNeXt_Large_Weights", "convnext_large-ea097f82.pth",
       variant="large"),
    _m("mobilenet_v2", "tv_mobilenet_v2", "MobileNet_V2_Weights", "mobilenet_v2-b0353104.pth",
       "mobilenet_v2-7ebf99e0.pth"),
    _m("mobilenet_v3_large", "tv_mobilenet_v3", "MobileNet_V3_Large_Weights",
       "mobilenet_v3_large-8738ca79.pth", "mobilenet_v3_large-5c1a4163.pth", variant="large"),
    _m("mobilenet_v3_small", "tv_mobilenet_v3", "MobileNet_V3_Small_Weights",
       "mobilenet_v3_small-047dcff4.pth", variant="small"),
    _m("shufflenet_v2_x0_5", "tv_shufflenet_v2", "ShuffleNet_V2_X0_5_Weights",
       "shufflenetv2_x0.5-f707e7126e.pth", variant="x0_5"),
    _m("shufflenet_v2_x1_0", "tv_shufflenet_v2", "ShuffleNet_V2_X1_0_Weights",
       "shufflenetv2_x1-5666bf0f80.pth", variant="x1_0"),
    _m("shufflenet_v2_x1_5", "tv_shufflenet_v2", "ShuffleNet_V2_X1_5_Weights",
       "shufflenetv2_x1_5-3c479a10.pth", variant="x1_5"),
    _m("shufflenet_v2_x2_0", "tv_shufflenet_v2", "ShuffleNet_V2_X2_0_Weights",
       "shufflenetv2_x2_0-8be3c8ee.pth", variant="x2_0"),
    _m("vit_b_16", "tv_vit", "ViT_B_16_Weights",
       "vit_b_16-c867db91.pth", "vit_b_16_swag-9ac1b537.pth", "vit_b_16_lc_swag-4e70ced5.pth",
       variant="b_16"),
    _m("vit_b_32", "tv_vit", "ViT_B_32_Weights",
       "vit_b_32-d86f8d99.pth", variant="b_32"),
    _m("vit_l_16", "tv_vit", "ViT_L_16_Weights",
       "vit_l_16-852ce7e3.pth", "vit_l_16_swag-4f3808c9.pth", "vit_l_16_lc_swag-4d563306.pth",
       variant="l_16"),
    _m("vit_l_32", "tv_vit", "ViT_L_32_Weights",
       "vit_l_32-c7638314.pth", variant="l_32"),
    _m("vit_h_14", "tv_vit", "ViT_H_14_Weights",
       "vit_h_14_swag-80465313.pth", "vit_h_14_lc_swag-c1eb923e.pth", variant="h_14"),
    _m("swin_t", "tv_swin", "Swin_T_Weights", "swin_t-704ceda3.pth", variant="t"),
    _m("swin_s", "tv_swin", "Swin_S_Weights", "swin_s-5e29d889.pth", variant="s"),
    _m("swin_b", "tv_swin", "Swin_B_Weights", "swin_b-68c6b09e.pth", variant="b"),
    _m("swin_v2_t", "tv_swin", "Swin_V2_T_Weights", "swin_v2_t-b137f0e2.pth", variant="v2_t"),
    _m("swin_v2_s", "tv_swin", "Swin_V2_S_Weights", "swin_v2_s-637d8ceb.pth", variant="v2_s"),
    _m("swin_v2_b", "tv_swin", "Swin_V2_B_Weights", "swin_v2_b-781e5279.pth", variant="v2_b"),
    _m("maxvit_t", "tv_maxvit", "MaxVit_T_Weights", "maxvit_t-bc5ab103.pth"),
    # torchvision.models.video's builders (3xTxHxW clips, Kinetics-400; tests/test_zoo.py)
    _m("r3d_18", "tv_video_resnet", "R3D_18_Weights", "r3d_18-b3b3357e.pth", task="video",
       variant="r3d_18"),
    _m("mc3_18", "tv_video_resnet", "MC3_18_Weights", "mc3_18-a90a0ba3.pth", task="video",
       variant="mc3_18"),
    _m("r2plus1d_18", "tv_video_resnet", "R2Plus1D_18_Weights", "r2plus1d_18-91a641e6.pth",
       task="video", variant="r2plus1d_18"),
    _m("s3d", "tv_s3d", "S3D_Weights", "s3d-d76dad2f.pth", task="video"),
    # torchvision.models.segmentation: each returns a dict ("out", and "aux" with aux_loss);
    # tests/test_segmentation.py proves them
    # without aux heads, as torchvision builds them without weights; --set aux=true adds the
    # head its COCO weights have (published_kwargs: what their num_params counts)
    _m("fcn_resnet50", "tv_fcn", "FCN_ResNet50_Weights", "fcn_resnet50_coco-1167a1af.pth",
       tv={"weights_backbone": None}, published={"aux_loss": True}, task="segmentation",
       depth=50),
    _m("fcn_resnet101", "tv_fcn", "FCN_ResNet101_Weights", "fcn_resnet101_coco-7ecb50ca.pth",
       tv={"weights_backbone": None}, published={"aux_loss": True}, task="segmentation",
       depth=101),
    _m("deeplabv3_resnet50", "tv_deeplabv3", "DeepLabV3_ResNet50_Weights",
       "deeplabv3_resnet50_coco-cd0a2569.pth", tv={"weights_backbone": None},
       published={"aux_loss": True}, task="segmentation", backbone="resnet50"),
    _m("deeplabv3_resnet101", "tv_deeplabv3", "DeepLabV3_ResNet101_Weights",
       "deeplabv3_resnet101_coco-586e9e4e.pth", tv={"weights_backbone": None},
       published={"aux_loss": True}, task="segmentation", backbone="resnet101"),
    _m("deeplabv3_mobilenet_v3_large", "tv_deeplabv3", "DeepLabV3_MobileNet_V3_Large_Weights",
       "deeplabv3_mobilenet_v3_large-fc3c493d.pth", tv={"weights_backbone": None},
       published={"aux_loss": True}, task="segmentation", backbone="mobilenet_v3_large"),
    _m("lraspp_mobilenet_v3_large", "tv_lraspp", "LRASPP_MobileNet_V3_Large_Weights",
       "lraspp_mobilenet_v3_large-d234d4ea.pth", tv={"weights_backbone": None},
       task="segmentation"),
    # torchvision.models.detection's ResNet-50 + FPN backbone (its Faster/Mask/Keypoint R-CNN
    # and RetinaNet build on it; tests/test_detection_backbone.py proves it): a dict of five
    # feature maps, no weight enum of its own
    Member("resnet50_fpn", "tv_resnet_fpn", MappingProxyType({"depth": 50}), task="backbone",
           reference="torchvision.models.detection.backbone_utils.resnet_fpn_backbone("
           "backbone_name='resnet50')"),
)

# The language models, equal to transformers' classes (no torchvision builder): name -> (spec,
# --set values, the reference they equal); tests/test_lm.py checks each against it.
LM_MEMBERS: Mapping[str, tuple[str, Mapping[str, Any], str]] = MappingProxyType({
    **{name: ("gpt2", MappingProxyType({"variant": variant}),
              f"transformers GPT2LMHeadModel ({name})")
       for name, variant in (("gpt2", "small"), ("gpt2-medium", "medium"),
                             ("gpt2-large", "large"), ("gpt2-xl", "xl"))},
    "llama-2-7b": ("llama", MappingProxyType({"variant": "llama2_7b"}),
                   "transformers LlamaForCausalLM (Llama-2-7b)"),
    "llama-3-8b": ("llama", MappingProxyType({"variant": "llama3_8b"}),
                   "transformers LlamaForCausalLM (Meta-Llama-3-8B)"),
    "llama-tiny": ("llama", MappingProxyType({"variant": "tiny"}),
                   "transformers LlamaForCausalLM (2 layers, 64 wide, GQA 4:2)"),
})

BY_NAME: Mapping[str, Member] = MappingProxyType({m.name: m for m in MEMBERS})


def member(name: str) -> Member:
    """The member called `name` (a torchvision builder name); a usage error names the nearest."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"no zoo member '{name}'", hint=did_you_mean(name, BY_NAME)) from None


def _spec_names() -> set[str]:
    from archc.core.resources import specs_dir

    return {p.stem for p in specs_dir().glob("*.arch")}


def listed_name(m: Member) -> str:
    """The name `archc list` shows for a member, and that every command accepts: torchvision's
    builder name, or `tv_NAME` where a bundled spec already has that name (resnet18, alexnet,
    googlenet and vgg11 are the document's own specs; a bundled spec name always wins)."""
    return "tv_" + m.name if m.name in _spec_names() else m.name


def lookup(name: str) -> Member | None:
    """The member a spec argument names, if it names one and no bundled spec: `efficientnet_b0`,
    or `tv_efficientnet_b0` for any member (tv_resnet18: torchvision's, not the book's)."""
    if name in BY_NAME and name not in _spec_names():
        return BY_NAME[name]
    if name.startswith("tv_") and name[3:] in BY_NAME and name not in _spec_names():
        return BY_NAME[name[3:]]
    return None


def as_spec(source: str | Path, overrides: Mapping[str, Any] | None, network: str | None = None
            ) -> tuple[str | Path, Mapping[str, Any] | None, str | None]:
    """A name `archc list` prints, as (spec, --set values, network): a zoo member's family spec
    and its --set values (the caller's add to them), or the bundled spec holding a network of
    that name (`resnet18_224`); any other source as it is. A path (a suffix or a folder) is a
    path."""
    text = str(source)
    if isinstance(source, Path) or "/" in text or "\\" in text or text.endswith(".arch"):
        return source, overrides, network
    from archc.core.resources import specs_dir

    if text in LM_MEMBERS:  # a language model `archc list` names: its spec and --set values
        spec, sets, _ = LM_MEMBERS[text]
        return specs_dir() / f"{spec}.arch", _member_sets(text, spec, sets, overrides), network
    if text in _spec_names():
        return source, overrides, network
    found = lookup(text)
    if found is not None:
        return (specs_dir() / f"{found.spec}.arch", _member_sets(text, found.spec, found.set,
                                                                 overrides), network)
    if network is None:
        for path in sorted(specs_dir().glob("*.arch")):
            if re.search(rf"^network\s+{re.escape(text)}\b", path.read_text(encoding="utf-8"),
                         re.MULTILINE):
                return path, overrides, text
    return source, overrides, network


def _member_sets(name: str, spec: str, fixed: Mapping[str, Any],
                 overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The member's --set values and the caller's, which add to them (`--set classes=10`); one
    that changes what the member's name fixes (`efficientnet_b0 --set variant=b7`) would build
    another member under its name: a usage error naming the way to ask for it."""
    for key, value in (overrides or {}).items():
        if key in fixed and value != fixed[key]:
            raise UsageError(f"--set {key}={value}: '{name}' is {spec} with {key}={fixed[key]}",
                             hint=f"for {key}={value}, name the family: {spec} --set "
                             f"{key}={value}")
    return {**fixed, **(overrides or {})}


def member_hint(name: str) -> str | None:
    """`did you mean 'efficientnet_b0' (tv_efficientnet --set variant=b0)?` for a near miss of
    a member's listed name or a bundled spec's, or None."""
    names = {listed_name(m): m for m in MEMBERS}
    close = did_you_mean(name, [*names, *_spec_names()])
    if close is None:
        return None
    word = close.split("'")[1]
    m = names.get(word)
    if m is None or word == m.spec:
        return close
    return f"did you mean '{word}' ({' '.join([m.spec, *m.set_args()])})?"


def members_of(spec: str) -> list[Member]:
    return [m for m in MEMBERS if m.spec == spec]


def families() -> Iterator[tuple[str, list[Member]]]:
    """(spec, its members) in table order."""
    seen: dict[str, list[Member]] = {}
    for m in MEMBERS:
        seen.setdefault(m.spec, []).append(m)
    yield from seen.items()


def by_file(path: str | Path) -> Member | None:
    """The member a torchvision checkpoint is for, from its file name: one of the weight enums'
    file names (`resnet50-11ad3fa6.pth`, as torch.hub saves them), or `MEMBER.pth`."""
    name = Path(path).name
    for m in MEMBERS:
        if name in m.files:
            return m
    return BY_NAME.get(name.rsplit(".", 1)[0])


def spec_for_checkpoint(spec: str | None, path: str | Path,
                        sets: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The spec and --set values to load a checkpoint with: as given, completed from the member
    the file name names (`resnet50-11ad3fa6.pth` -> tv_resnet --set depth=50) where the spec is
    not given, or is that member's spec (the user's --set values win, except over what a
    member named as the spec fixes)."""
    found = by_file(path)
    named = lookup(spec) if spec is not None else None
    if named is not None:  # `archc build resnet50 --weights ...`: the member's spec and --set
        return named.spec, _member_sets(str(spec), named.spec, named.set, sets)
    if spec is None:
        if found is None:
            raise UsageError(f"cannot tell which spec '{Path(path).name}' is for",
                             hint="name it: archc import-weights SPEC FILE --set ... "
                             "(`archc list` shows the zoo)")
        return found.spec, {**found.set, **sets}
    if found is not None and Path(spec).stem == found.spec:
        return spec, {**found.set, **sets}
    return spec, dict(sets)
