"""Random training crops read straight from the raw files: the index, the dataset, the dev crops.

The crop side never touches the catalog (so DataLoader workers never import DuckDB): ``index`` (the
arrays and their snapshot reader), ``policy`` (where a crop starts), ``dataset`` (drawing and reading),
``preview`` (dev crops, preview). The catalog side, ``homecat.crop_snapshot``, builds the index and
writes its snapshot.

``homecat.crop_snapshot.build_crop_index`` runs ONE query (splits ⋈ recordings ⋈ audio_stats, with each recording's
active windows from ``levels``) and keeps the answer as compact numpy arrays. A ``CropIndex`` holds
no DuckDB object, pickles into DataLoader workers, and is saved to (``write_snapshot``) / loaded from (``CropIndex.load``) a Parquet snapshot
(the trainer snapshots it into the run folder and resumes from that).

How one crop is drawn (``CropDataset.draw``):
1. a recording, in proportion to its readable duration;
2. a start, by ``crop_policy``:
   - ``energy`` (the default): inside a window whose rms_dbfs is at or above the recording's
     activity threshold (uniform over those windows, then within the window); a recording without
     active windows falls back to uniform;
   - ``uniform``: anywhere a crop fits;
   - ``speech``: uniform over the starts whose crop holds at least ``min_speech_share`` of speech
     (the merged turns of ``speech_source`` with ``speech_labels``); where no start reaches that
     share, over the starts holding the most speech there is. A recording the speech source processed
     and found no speech in is never drawn for this part (its share goes to recordings with speech);
     one never processed falls back to ``energy`` (one warning says how many recordings do);
   - ``mixture``: the crop's first random draw picks the part (speech, energy, uniform) by
     ``policy_weights``, then that part draws the start. The recording is always chosen in
     proportion to duration, so every policy keeps each family's share of the crops;
3. only that window is read (``audio.read_window``: seek + read), down-mixed by
   ``data.channel_policy`` and resampled to ``data.sample_rate`` with soxr; the result is exactly
   ``seconds_to_frames(crop_sec, sample_rate)`` float32 samples;
4. a crop whose RMS is under the recording's threshold is silent: the start is redrawn in the same
   recording up to ``max_silence_retries`` times. Then ``on_silent``:
   - ``accept``: keep the last crop (outcome ``silent_accepted``, ``silent`` False in the item);
   - ``mark``: keep it with ``silent`` True, so the trainer can leave it out of the loss;
   - ``skip``: draw other recordings (not yet tried for this crop), each with its own retries, and
     return the first active crop. At most ``max_silence_retries + 1`` recordings are tried, so
     an all-silent corpus ends after (retries + 1)² reads: the last crop comes back marked
     (outcome ``skip_exhausted``, ``silent`` True) and a warning is logged once. It never loops.

Recordings shorter than one crop are left out of the index (counted in ``excluded_short``):
padding them would feed the model zeros that no real input contains, and in long-form corpora
they are a negligible share of the hours. Recordings whose threshold is unknown are never silent.

Crop k of epoch e on rank r is a pure function of (crop_seed, e, r, k) and the index (its part of
a mixture included): its random generator is seeded from ``SeedSequence([crop_seed, e, r, k])``,
so it does not depend on the
number of DataLoader workers, and ranks draw independent streams. ``state_dict()`` holds
(epoch, position); ``sampler()`` yields positions from there, so a resumed run continues exactly.
One exception: a file that vanishes or fails to read is logged once (per process) and skipped.
Nothing here writes files.
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
