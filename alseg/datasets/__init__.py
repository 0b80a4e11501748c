"""Dataset registry: the datasets alseg can benchmark on, and one entry point to load them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alseg.datasets.base import DatasetCard, SegDataset
from alseg.datasets.cvc import load_cvc_clinicdb
from alseg.datasets.folder import load_folder
from alseg.datasets.kvasir import CITATION as KVASIR_CITATION
from alseg.datasets.kvasir import LICENCE as KVASIR_LICENCE
from alseg.datasets.kvasir import load_kvasir_seg
from alseg.datasets.synthetic import load_synthetic
from alseg.errors import AlsegUsageError

__all__ = ["DATASETS", "DatasetCard", "SegDataset", "list_datasets", "load_dataset"]

DATASETS: dict[str, DatasetCard] = {
    card.name: card
    for card in (
        DatasetCard(
            name="synthetic",
            description="procedural polyp-like images generated in memory (300 train + 60 test), no download",
            needs_data_dir=False,
            loader=load_synthetic,
        ),
        DatasetCard(
            name="cvc-clinicdb",
            description="CVC-ClinicDB colonoscopy frames (612; standard 550/62 split), obtain from its authors",
            needs_data_dir=True,
            loader=load_cvc_clinicdb,
            licence="research and educational use only, commercial use forbidden (frames: Hospital Clinic, "
                    "Barcelona; masks: Computer Vision Center, Barcelona)",
            citation="Bernal, J., Sánchez, F. J., Fernández-Esparrach, G., Gil, D., Rodríguez, C., Vilariño, F. "
                     "\"WM-DOVA maps for accurate polyp highlighting in colonoscopy: Validation vs. saliency maps "
                     "from physicians\", Computerized Medical Imaging and Graphics 43 (2015)",
        ),
        DatasetCard(
            name="folder",
            description="any folder with images/ + masks/ (matched by name), optional split.json or split.csv",
            needs_data_dir=True,
            loader=load_folder,
        ),
        DatasetCard(
            name="kvasir-seg",
            description="Kvasir-SEG colonoscopy images (1000; standard 900/100 split), `alseg data fetch kvasir-seg` "
                        "downloads it",
            needs_data_dir=True,
            loader=load_kvasir_seg,
            licence=KVASIR_LICENCE,
            citation=KVASIR_CITATION,
        ),
    )
}


def list_datasets() -> list[DatasetCard]:
    """Return the registered datasets in display order, for `alseg datasets`."""
    return list(DATASETS.values())


def load_dataset(
    name: str,
    *,
    data_dir: Path | None,
    image_size: int,
    cache_dir: Path,
    seed: int = 0,
    split_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegDataset:
    """Load a dataset by registry name, resized to image_size, using cache_dir for decoded arrays."""
    card = DATASETS.get(name)
    if card is None:
        raise AlsegUsageError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return card.loader(
        data_dir=data_dir,
        image_size=image_size,
        cache_dir=cache_dir,
        seed=seed,
        split_file=split_file,
        progress=progress,
    )
