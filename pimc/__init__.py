"""PIxel-wise Multimodal Contrastive learning: recurrence plots of vegetation-index series meet image patches, as a notebook-first research workbench

Modules:

- `pimc.locks`: One process at a time in a run, sweep or training folder: a lock file held with `filelock`, and a sidecar that names the holder; and atomic writes: a file or folder is either the old one or the complete new one."""

__version__ = "0.0.1"
