"""Random training crops read straight from the raw files: the crop index, the dataset, the dev crops, the preview.

Owns how a crop is drawn (a recording by duration, a start by ``crops.crop_policy``, one window read,
silent crops redrawn by ``crops.on_silent``) and keeps it a pure function of (crop_seed, epoch, rank, k), so
runs resume exactly. The crop side never opens the catalog (DataLoader workers never import DuckDB):
``index`` (the arrays and their snapshot reader), ``policy`` (where a crop starts), ``dataset`` (drawing and
reading), ``preview`` (dev crops, preview); ``homecat.crop_snapshot`` builds the index from the catalog and
writes its snapshot. Users read README.md "Splits and training crops" and "Vocal activity and crop policies".
"""

from homecat.crops.dataset import Crop, CropDataset, CropSpec, NoCrops
from homecat.crops.index import CropIndex
from homecat.crops.policy import POLICY_PARTS, choose_start, rms_dbfs, speech_start_ranges
from homecat.crops.preview import Preview, dev_crops, preview_crops, read_crop

__all__ = [
    "POLICY_PARTS",
    "Crop",
    "CropDataset",
    "CropIndex",
    "CropSpec",
    "NoCrops",
    "Preview",
    "choose_start",
    "dev_crops",
    "preview_crops",
    "read_crop",
    "rms_dbfs",
    "speech_start_ranges",
]
