#!/usr/bin/python3
"""PyTorch (CPU) peer of bench/backend-vs-torch.mjs: the same networks, optimiser and batch.

Networks follow ../shared/recipe.md (InfoGAN stage 1 with BatchNorm, dense 1024 x 3 stage 2),
initialised like the tfjs side (normal std 0.02). Run with Debian's python3-torch:

    /usr/bin/python3 tools/torch_bench.py            # one-shot figures
    # Debian's torch uses the libblas.so.3 alternative; to force the OpenMP OpenBLAS for one run:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/torch_bench.py
    /usr/bin/python3 tools/torch_bench.py --serve    # JSON-lines server used by the bench

Server commands (one JSON object per line on stdin, one JSON answer per line on stdout):
  {"cmd": "info"} | {"cmd": "stage1", "steps": n} | {"cmd": "stage2", "steps": n}
  {"cmd": "generate", "n": 10000, "batch": 1000} | {"cmd": "quit"}
"""

import json
import os
import resource
import sys
import time

import torch
from torch import nn

BATCH = 64
LATENT = 64
LR = 1e-4


def blas_library():
    """The BLAS / LAPACK shared objects this process actually mapped."""
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path or "lapack" in path or "mkl" in path:
                libs.add(os.path.realpath(path))
    return sorted(libs)


def init_weights(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


class Stage1(nn.Module):
    """InfoGAN encoder/decoder for 28x28x1, BatchNorm (decay 0.999 -> momentum 0.001, eps 1e-5)."""

    def __init__(self):
        super().__init__()
        bn = dict(eps=1e-5, momentum=0.001)
        self.enc = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128, **bn), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1024), nn.BatchNorm1d(1024, **bn), nn.LeakyReLU(0.2),
            nn.Linear(1024, 2 * LATENT),
        )
        self.dec = nn.Sequential(
            nn.Linear(LATENT, 1024), nn.BatchNorm1d(1024, **bn), nn.ReLU(),
            nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7, **bn), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64, **bn), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid(),
        )
        self.log_gamma = nn.Parameter(torch.zeros(()))
        self.apply(init_weights)

    def loss(self, x):
        h = self.enc(x)
        mu, pre = h[:, :LATENT], h[:, LATENT:]
        sigma = 1e-6 + nn.functional.softplus(pre)
        z = mu + sigma * torch.randn_like(mu)
        x_hat = self.dec(z)
        gamma = torch.exp(self.log_gamma)
        kl = 0.5 * torch.sum(mu * mu + sigma * sigma - 2 * torch.log(sigma) - 1) / x.shape[0]
        nll = torch.sum(((x - x_hat) / gamma) ** 2 / 2 + self.log_gamma + 0.9189385332046727) / x.shape[0]
        return kl + nll


class Stage2(nn.Module):
    """Dense second stage: 3 x dense(1024, ReLU) -> concat[input, h] -> heads, on 64-d codes."""

    def __init__(self, width=1024, depth=3):
        super().__init__()

        def tower(inp):
            layers, d = [], inp
            for _ in range(depth):
                layers += [nn.Linear(d, width), nn.ReLU()]
                d = width
            return nn.Sequential(*layers)

        self.enc, self.dec = tower(LATENT), tower(LATENT)
        self.mu = nn.Linear(width + LATENT, LATENT)
        self.log_sigma = nn.Linear(width + LATENT, LATENT)
        self.z_hat = nn.Linear(width + LATENT, LATENT)
        self.log_gamma = nn.Parameter(torch.zeros(()))
        self.apply(init_weights)

    def decode(self, u):
        return self.z_hat(torch.cat([u, self.dec(u)], 1))

    def loss(self, z):
        h = torch.cat([z, self.enc(z)], 1)
        mu, log_sigma = self.mu(h), self.log_sigma(h)
        sigma = torch.exp(log_sigma)
        u = mu + sigma * torch.randn_like(mu)
        z_hat = self.decode(u)
        kl = 0.5 * torch.sum(mu * mu + sigma * sigma - 2 * log_sigma - 1) / z.shape[0]
        nll = torch.sum(((z - z_hat) / torch.exp(self.log_gamma)) ** 2 / 2 + self.log_gamma + 0.9189385332046727)
        return kl + nll / z.shape[0]


class Bench:
    def __init__(self):
        torch.manual_seed(0)
        self.s1, self.s2 = Stage1(), Stage2()
        self.o1 = torch.optim.Adam(self.s1.parameters(), lr=LR)
        self.o2 = torch.optim.Adam(self.s2.parameters(), lr=LR)
        self.x = torch.rand(BATCH, 1, 28, 28)
        self.z = torch.randn(BATCH, LATENT)

    def info(self):
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "blas": blas_library(),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "params_stage1": count(self.s1),
            "params_stage2": count(self.s2),
        }

    def train(self, model, opt, data, steps):
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = model.loss(data)
            loss.backward()
            opt.step()
        float(loss)
        return time.perf_counter() - start

    def generate(self, n, batch):
        self.s1.eval()
        self.s2.eval()
        start = time.perf_counter()
        with torch.no_grad():
            done = 0
            while done < n:
                b = min(batch, n - done)
                z = self.s2.decode(torch.randn(b, LATENT)) + torch.exp(self.s2.log_gamma) * torch.randn(b, LATENT)
                x = self.s1.dec(z)
                float(x[0, 0, 0, 0])
                done += b
        return time.perf_counter() - start

    def handle(self, msg):
        cmd = msg["cmd"]
        if cmd == "info":
            out = self.info()
        elif cmd == "stage1":
            out = {"seconds": self.train(self.s1, self.o1, self.x, msg["steps"])}
        elif cmd == "stage2":
            out = {"seconds": self.train(self.s2, self.o2, self.z, msg["steps"])}
        elif cmd == "generate":
            out = {"seconds": self.generate(msg["n"], msg.get("batch", 1000))}
        else:
            raise ValueError(f"unknown command {cmd}")
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out


def main():
    threads = int(os.environ.get("TSVAE_TORCH_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    bench = Bench()
    if "--serve" in sys.argv:
        for line in sys.stdin:
            msg = json.loads(line)
            if msg["cmd"] == "quit":
                break
            print(json.dumps(bench.handle(msg)), flush=True)
        return
    print(json.dumps(bench.info()))
    bench.train(bench.s1, bench.o1, bench.x, 3)
    bench.train(bench.s2, bench.o2, bench.z, 10)
    s1 = bench.train(bench.s1, bench.o1, bench.x, 20)
    s2 = bench.train(bench.s2, bench.o2, bench.z, 100)
    g = bench.generate(10000, 1000)
    print(f"stage 1: {20 * BATCH / s1:.0f} images/s; stage 2: {100 * BATCH / s2:.0f} samples/s; 10k samples: {g:.2f} s")


if __name__ == "__main__":
    main()
