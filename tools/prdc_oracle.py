#!/usr/bin/python3
"""Test oracle for @tsvae/metrics' precision / recall / density / coverage (src/prdc.ts).

A direct numpy implementation (full float64 distance matrices from the differences, no blocking)
of improved precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al.
2020), written exactly as Naeem et al.'s reference ``prdc.compute_prdc`` (k + 1-th smallest
distance including the zero self-distance = k-th nearest other sample; strict ``<``), plus the
``<=`` variant (``closedBalls``). Inputs come from the LCG shared with src/testing.ts
(``lcg_uniform`` / ``lcg_features`` of tools/fid_oracle.py), so the TypeScript test regenerates
them and only the expected numbers are committed, in packages/metrics/fixtures/prdc/expected.json.

Usage (from the repository root; numpy only):

    /usr/bin/python3 tools/prdc_oracle.py
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fid_oracle import FIX, lcg_features, lcg_uniform  # noqa: E402


def distances(x, y):
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1))


def radii(x, k):
    # Naeem et al.: the (k + 1)-th smallest of each row, the zero self-distance included.
    return np.sort(distances(x, x), axis=1)[:, k]


def prdc(real, fake, k, closed):
    rr = radii(real, k)
    rf = radii(fake, k)
    d = distances(real, fake)  # [N, M]
    inside = (lambda a, b: a <= b) if closed else (lambda a, b: a < b)
    in_real = inside(d, rr[:, None])
    return {
        'precision': float(in_real.any(axis=0).mean()),
        'recall': float(inside(d, rf[None, :]).any(axis=1).mean()),
        'density': float(in_real.sum(axis=0).mean() / k),
        'coverage': float(inside(d.min(axis=1), rr).mean()),
        'real_radii': rr.tolist(),
        'fake_radii': rf.tolist(),
    }


def inputs():
    """Named (real, fake, recipe) triples; the recipe says how src/prdc.test.ts rebuilds them."""
    out = []
    real = lcg_features(11, 200, 16)
    out.append(('overlapping', real, lcg_features(12, 150, 16) * 1.1,
                {'real': [11, 200, 16, 1, 0], 'fake': [12, 150, 16, 1.1, 0]}))
    out.append(('shifted', real, lcg_features(13, 120, 16) * 1.3 + 0.2,
                {'real': [11, 200, 16, 1, 0], 'fake': [13, 120, 16, 1.3, 0.2]}))
    # Discrete features (floor(3 u)): many exact ties, where < and <= differ.
    dr = np.floor(3 * lcg_uniform(21, 90 * 4)).reshape(90, 4)
    df = np.floor(3 * lcg_uniform(22, 70 * 4)).reshape(70, 4)
    out.append(('discrete', dr, df, {'discreteReal': [21, 90, 4], 'discreteFake': [22, 70, 4]}))
    return out


def main():
    cases = []
    for name, real, fake, recipe in inputs():
        for k in (1, 3, 5):
            for closed in (False, True):
                r = prdc(real, fake, k, closed)
                if closed:  # the radii do not depend on the comparison
                    del r['real_radii'], r['fake_radii']
                cases.append({'name': name, 'recipe': recipe, 'k': k, 'closed': closed, **r})
    out = os.path.join(FIX, 'prdc')
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump({'cases': cases}, f, indent=1)
    for c in cases:
        print(c['name'], c['k'], c['closed'],
              {m: c[m] for m in ('precision', 'recall', 'density', 'coverage')})


if __name__ == '__main__':
    main()
