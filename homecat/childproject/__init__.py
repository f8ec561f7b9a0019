"""ChildProject datasets read as they are: recordings and children from the metadata, annotation sets.

A ChildProject dataset (the format of the ``childproject`` package, used here as the reference, not
imported) keeps ``metadata/children.csv`` and ``metadata/recordings.csv``, audio under
``recordings/raw/`` (converted copies under ``recordings/converted/<profile>/``) and annotation sets
under ``annotations/<set>/converted/`` indexed by ``metadata/annotations.csv``, often versioned with
DataLad, whose git-annex leaves a dangling symlink where content was not fetched.

- ``metadata``: reading and checking children.csv and recordings.csv, whole, before anything is
  written; one problem refuses the scan with a sentence naming the file, line and column.
- ``scan``: ``homecat scan`` over such a dataset (``scan_dataset``): the rows of recordings.csv are
  the recordings and their ``child_id`` the participant; the audio goes through the normal scan
  (headers only, incremental, batched); missing, not fetched and unreferenced files become findings.
- ``annotations``: an annotation set into ``segments`` or ``speech``, in seconds, inside its
  annotated ranges, which are kept in ``annotated_ranges``.
- ``export``: the catalog's segments written into the dataset as a new annotation set (``export_set``),
  the only thing homecat ever writes into a dataset.
"""

from homecat.childproject.annotations import (
    AnnotationImport,
    import_segments,
    import_speech,
    segments_source,
    speech_source,
)
from homecat.childproject.export import SetExport, export_set
from homecat.childproject.metadata import MetadataError, check_dataset, read_metadata
from homecat.childproject.scan import FINDING_CODES, forget_dataset, scan_dataset

__all__ = [
    "FINDING_CODES",
    "AnnotationImport",
    "MetadataError",
    "SetExport",
    "check_dataset",
    "export_set",
    "forget_dataset",
    "import_segments",
    "import_speech",
    "read_metadata",
    "scan_dataset",
    "segments_source",
    "speech_source",
]
