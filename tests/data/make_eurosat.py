"""Write EuroSAT trees in the real on-disk formats: 13-band uint16 GeoTIFF chips (B8A LAST) and the RGB JPEGs made
from them the way EuroSAT made its own (B4, B3, B2, 0-2750 -> 0-255), plus split lists naming .jpg files.

    python tests/data/make_eurosat.py OUT [--n-per-class 3] [--layout torchgeo|zenodo] [--seed 0]

Layouts: 'torchgeo' writes ds/images/remote_sensing/otherDatasets/sentinel_2/tif/<Class>/<Class>_<n>.tif and
2750/<Class>/<Class>_<n>.jpg (DFKI EuroSAT.zip); 'zenodo' writes EuroSAT_MS/<Class>/... and EuroSAT_RGB/<Class>/...
Each class gets a plausible Sentinel-2 spectrum (SPECTRA, in EuroSAT band order) with spatial texture and noise;
B8A differs from B08 on purpose (by 0.01-0.02 reflectance) so a reader that confuses them is caught.
The imagery is made up: no full EuroSAT is available offline.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path

import numpy as np

CLASSES = ('AnnualCrop', 'Forest', 'HerbaceousVegetation', 'Highway', 'Industrial', 'Pasture', 'PermanentCrop',
           'Residential', 'River', 'SeaLake')
BANDS = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B09', 'B10', 'B11', 'B12', 'B8A')  # B8A last
MS_DIRS = {'torchgeo': 'ds/images/remote_sensing/otherDatasets/sentinel_2/tif', 'zenodo': 'EuroSAT_MS'}
RGB_DIRS = {'torchgeo': '2750', 'zenodo': 'EuroSAT_RGB'}

# surface reflectance per band, EuroSAT order:  B01   B02   B03   B04   B05   B06   B07   B08   B09   B10   B11   B12   B8A
SPECTRA = {
    'AnnualCrop':           np.array([.050, .060, .090, .080, .130, .250, .290, .320, .100, .005, .220, .140, .340]),
    'Forest':               np.array([.020, .030, .050, .030, .080, .220, .270, .300, .100, .005, .140, .070, .320]),
    'HerbaceousVegetation': np.array([.040, .050, .080, .070, .120, .240, .280, .300, .100, .005, .200, .120, .315]),
    'Highway':              np.array([.090, .100, .120, .130, .150, .180, .200, .210, .080, .005, .240, .200, .222]),
    'Industrial':           np.array([.120, .130, .150, .170, .190, .210, .220, .230, .090, .006, .260, .230, .242]),
    'Pasture':              np.array([.040, .050, .090, .070, .130, .280, .330, .360, .110, .005, .220, .120, .380]),
    'PermanentCrop':        np.array([.060, .070, .100, .100, .140, .220, .250, .270, .100, .005, .240, .160, .288]),
    'Residential':          np.array([.100, .110, .130, .140, .160, .200, .220, .230, .090, .006, .220, .180, .242]),
    'River':                np.array([.060, .070, .080, .060, .060, .060, .060, .060, .020, .002, .040, .030, .048]),
    'SeaLake':              np.array([.070, .060, .050, .030, .020, .015, .012, .020, .005, .001, .008, .005, .008]),
}


def _texture(size, rng):
    "Smooth multiplicative texture with mean 1 (+-8 %)."
    k = rng.normal(size=(size // 8 + 2, size // 8 + 2))
    up = np.kron(k, np.ones((8, 8)))[:size, :size]
    from scipy.ndimage import uniform_filter
    t = uniform_filter(up, 9)
    return 1 + 0.08 * (t - t.mean()) / (t.std() + 1e-9)


def make_chip(cls: str, size: int, rng) -> np.ndarray:
    "(13, size, size) uint16 reflectance x 10 000 of one chip of class `cls`."
    x = SPECTRA[cls][:, None, None] * _texture(size, rng)[None] + rng.normal(0, .003, (13, size, size))
    return np.clip(np.rint(x * 10_000), 0, 65535).astype(np.uint16)


def to_rgb(ms: np.ndarray) -> np.ndarray:
    "(H, W, 3) uint8 as EuroSAT made its RGB chips: B04, B03, B02 scaled 0-2750 -> 0-255."
    idx = [BANDS.index(b) for b in ('B04', 'B03', 'B02')]
    return np.clip(ms[idx].astype(np.float32) / 2750 * 255, 0, 255).round().astype(np.uint8).transpose(1, 2, 0)


def make_eurosat(out, n_per_class: int = 3, size: int = 64, layout: str = 'torchgeo', classes=CLASSES,
                 seed: int = 0, rgb: bool = True, splits: bool = True, compress: str | None = 'lzw') -> dict:
    "Write the tree under `out`; returns {'ms': folder of class folders, 'rgb': ..., 'splits': {split: file}}."
    import rasterio
    from rasterio.transform import Affine
    from PIL import Image
    out, rng = Path(out), np.random.default_rng(seed)
    ms_dir, rgb_dir = out / MS_DIRS[layout], out / RGB_DIRS[layout]
    lists = {'train': [], 'val': [], 'test': []}
    for c_i, cls in enumerate(classes):
        for n in range(1, n_per_class + 1):
            x = make_chip(cls, size, rng)
            f = ms_dir / cls / f'{cls}_{n}.tif'; f.parent.mkdir(parents=True, exist_ok=True)
            prof = dict(driver='GTiff', dtype='uint16', count=13, height=size, width=size, crs=f'EPSG:{32631 + c_i % 5}',
                        transform=Affine(10, 0, 500_000 + 640 * n, 0, -10, 5_500_000 - 640 * c_i))
            if compress: prof['compress'] = compress
            with rasterio.open(f, 'w', **prof) as dst: dst.write(x)
            if rgb:
                j = rgb_dir / cls / f'{cls}_{n}.jpg'; j.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(to_rgb(x)).save(j, quality=95)
            lists[('train', 'val', 'test')[(n - 1) % 3]].append(f'{cls}_{n}.jpg')
    files = {}
    if splits:
        for s, names in lists.items():
            files[s] = out / f'eurosat-{s}.txt'; files[s].write_text(''.join(f'{x}\n' for x in names))
    return {'ms': ms_dir, 'rgb': rgb_dir if rgb else None, 'splits': files}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out')
    p.add_argument('--n-per-class', type=int, default=3)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--layout', choices=sorted(MS_DIRS), default='torchgeo')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    r = make_eurosat(a.out, a.n_per_class, a.size, a.layout, seed=a.seed)
    print(f"{a.out}: {a.n_per_class} chips x {len(CLASSES)} classes; MS in {r['ms']}, RGB in {r['rgb']}, splits {sorted(r['splits'])}")


if __name__ == '__main__':
    sys.exit(main())
