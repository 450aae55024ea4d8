"""Write a PASTIS-layout tree in the exact on-disk format, on the REAL metadata of the shared samples.

    python tests/data/make_pastis.py OUT [--size 32] [-n 9] [--seed 0] [--metadata DIR]

The 9 real patches of `pastis_metadata/metadata.geojson` (their ids, folds, tiles, footprints and real `dates-S2`
lists, so T comes from the real date lists) and the real `NORM_S2_patch.json` are kept as they are; only the
imagery is made up, because the real archive is 29 GB. The imagery is random but plausible: Voronoi parcels with a
PASTIS class each, a crop-specific NDVI-like phenology over the real dates, a soil/vegetation spectral mixture in
the PASTIS band order (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12, reflectance x 10 000, int16), noise and a few clouds.
Patch 10001 (and every 7th record after it) carries `dates-S2` as a JSON string, as some PASTIS exports do.
`-n 200` cycles the real records with new ids (real id + 100000 x cycle) for the memory benchmark.
Files are written through `pimc.pastis.write_pastis_*`, the writers the synthetic generator uses too.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

import numpy as np

from pimc.pastis import PASTIS_REFERENCE_DATE, parse_dates_s2, write_pastis_metadata, write_pastis_norm, write_pastis_patch

#           B2     B3     B4     B5     B6     B7     B8     B8A    B11    B12
SOIL = np.array([.080, .110, .140, .170, .200, .220, .240, .250, .300, .260], np.float32)
VEG = np.array([.030, .060, .030, .090, .250, .330, .380, .400, .200, .100], np.float32)
CLOUD = np.array([.400, .390, .380, .380, .390, .400, .410, .410, .330, .240], np.float32)

# class: (base, amplitude, green-up, senescence) of the vegetation fraction, days since 2018-09-01
PHENOLOGY = {
    0: (.10, .15, 200, 330), 1: (.45, .35, 170, 330), 2: (.10, .75, 160, 290), 3: (.05, .80, 270, 360),
    4: (.10, .75, 150, 275), 5: (.15, .75, 130, 265), 6: (.05, .70, 215, 300), 7: (.05, .70, 265, 345),
    8: (.20, .40, 250, 380), 9: (.05, .80, 260, 400), 10: (.10, .75, 160, 290), 11: (.10, .70, 165, 295),
    12: (.15, .55, 240, 330), 13: (.05, .70, 255, 330), 14: (.35, .45, 170, 380), 15: (.05, .75, 275, 365),
    16: (.30, .45, 225, 400), 17: (.10, .70, 165, 290), 18: (.05, .70, 280, 370), 19: (.25, .35, 200, 330),
}
CROPS = [c for c in range(1, 19)]


def samples_metadata_dir() -> Path:
    "The shared `pastis_metadata` folder ($PIMC_SAMPLES or <repo>/../shared/data; see pimc.readers.samples_dir)."
    from pimc.readers import samples_dir
    return samples_dir('pastis_metadata')


def _sig(x): return 1 / (1 + np.exp(-x))


def make_patch(dates, size: int, rng: np.random.Generator):
    "(values (T, 10, size, size) int16, semantic target (size, size) uint8) of one plausible patch."
    T = len(dates)
    day = (dates - PASTIS_REFERENCE_DATE).astype(int).astype(np.float32)
    k = int(rng.integers(6, 14))
    seeds = rng.uniform(0, size, (k, 2))
    yy, xx = np.mgrid[:size, :size]
    parcel = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, -1)
    u = rng.uniform(size=k)
    cls = np.where(u < .15, 0, np.where(u < .20, 19, rng.choice(CROPS, k)))
    frac = np.empty((k, T), np.float32)
    for j, c in enumerate(cls):
        base, amp, up, down = PHENOLOGY[int(c)]
        up, down, amp = up + rng.normal(0, 8), down + rng.normal(0, 8), amp * rng.uniform(.85, 1.05)
        frac[j] = base + amp * (_sig((day - up) / 12) - _sig((day - down) / 12))
    f = np.clip(frac[parcel].transpose(2, 0, 1), 0, 1)                          # (T, H, W)
    f = np.clip(f + rng.normal(0, .03, f.shape).astype(np.float32), 0, 1)
    x = SOIL[None, :, None, None] * (1 - f[:, None]) + VEG[None, :, None, None] * f[:, None]
    x += rng.normal(0, .004, x.shape).astype(np.float32)
    for t in np.flatnonzero(rng.uniform(size=T) < .12):                        # a few clouds
        cy, cx, r = *rng.uniform(0, size, 2), rng.uniform(.2, .6) * size
        m = np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0, 1).astype(np.float32) * rng.uniform(.5, 1)
        x[t] = x[t] * (1 - m) + CLOUD[:, None, None] * m
    return np.clip(np.rint(x * 10_000), 0, 32767).astype(np.int16), cls[parcel].astype(np.uint8)


def make_pastis(out, size: int = 32, n: int | None = None, seed: int = 0, metadata=None) -> Path:
    "Write the PASTIS tree under `out` (n patches; default: the real ones) and return its root."
    out, meta_dir = Path(out), Path(metadata) if metadata is not None else samples_metadata_dir()
    gj = json.loads((meta_dir / 'metadata.geojson').read_text())
    crs = gj.get('crs', {}).get('properties', {}).get('name', 'urn:ogc:def:crs:EPSG::2154')
    real = sorted(gj['features'], key=lambda f: int(f['properties']['ID_PATCH']))
    n = len(real) if n is None else n
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        f = real[i % len(real)]
        props = dict(f['properties'])
        pid = int(props['ID_PATCH']) + 100_000 * (i // len(real))
        dates = parse_dates_s2(props['dates-S2'], f"{meta_dir / 'metadata.geojson'} patch {props['ID_PATCH']}")
        values, target = make_patch(dates, size, rng)
        write_pastis_patch(out, pid, values, dates, target, fold=int(props['Fold']), tile=props.get('TILE'))
        ds = props['dates-S2'] if isinstance(props['dates-S2'], dict) else json.loads(props['dates-S2'])
        props.update({'ID_PATCH': pid, 'dates-S2': json.dumps(ds) if i % 7 == 1 else ds, 'geometry': f.get('geometry')})
        records.append(props)
    write_pastis_metadata(out, records, crs=crs)
    write_pastis_norm(out, json.loads((meta_dir / 'NORM_S2_patch.json').read_text()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out', help='root folder to write (created)')
    p.add_argument('--size', type=int, default=32, help='patch height and width in pixels (real PASTIS: 128)')
    p.add_argument('-n', '--n', type=int, default=None, help='number of patches (default: the 9 real records; more cycle them with new ids)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--metadata', default=None, help='folder with the real metadata.geojson and NORM_S2_patch.json')
    a = p.parse_args(argv)
    root = make_pastis(a.out, a.size, a.n, a.seed, a.metadata)
    files = list((root / 'DATA_S2').glob('S2_*.npy'))
    mb = sum(f.stat().st_size for f in files) / 2**20
    print(f"{root}: {len(files)} patches of {a.size}x{a.size} px, DATA_S2 {mb:.1f} MB ({mb / max(len(files), 1):.2f} MB per patch)")


if __name__ == '__main__':
    sys.exit(main())
