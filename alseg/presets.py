"""The named presets a benchmark starts from (`alseg bench --preset`), and their one-line help."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "dataset": "synthetic",
        "image_size": 64,
        "seeds": 1,
        "initial": 20,
        "rounds": 4,
        "budget": 20,
        "epochs": 6,
        "initial_epochs": 12,
        "batch_size": 16,
        "lr": 1e-3,
        "encoder": "timm-tf_efficientnet_lite0",
        "encoder_weights": "imagenet",
        "precision": "fp32",
    },
    "cpu": {
        "dataset": "cvc-clinicdb",
        "data_dir": "datasets/cvc-clinicdb",
        "image_size": 160,
        "seeds": 3,
        "initial": 30,
        "rounds": 5,
        "budget": 30,
        "epochs": 8,
        "initial_epochs": 16,
        "batch_size": 16,
        "lr": 1e-3,
        "encoder": "timm-tf_efficientnet_lite0",
        "encoder_weights": "imagenet",
        "precision": "fp32",
    },
    "paper": {
        "dataset": "cvc-clinicdb",
        "data_dir": "datasets/cvc-clinicdb",
        "image_size": 352,
        "seeds": 3,
        "initial": 30,
        "rounds": 5,
        "budget": 30,
        "epochs": 5,
        "initial_epochs": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "schedule": "constant",
        "encoder": "resnet34",
        "encoder_weights": "imagenet",
        "precision": "auto",
    },
}

PRESET_HELP = {
    "quick": "synthetic polyps at 64 px, every strategy, 1 seed: a few minutes on 2 CPU cores",
    "cpu": "CVC-ClinicDB at 160 px, ImageNet EfficientNet-Lite0, 30 + 5 x 30 labels, 3 seeds (docs/presets.md)",
    "paper": "the paper's protocol: 352 px, ResNet-34 ImageNet, 5 epochs per round, Adam 1e-4 (a GPU job)",
}
