"""varbayes.vae.VAE beside PyTorch: the 784-400-20 VAE of pytorch/examples.

Both train the model of pytorch/examples ``vae/main.py`` (encoder
784-400-(20, 20), decoder 20-400-784, ReLU, Bernoulli likelihood, Adam with
learning rate 1e-3, batch 128, shuffled, float32) on Fashion-MNIST, on the
CPU with the same number of threads (BLAS limited by threadpoolctl, torch by
``torch.set_num_threads``), one after the other in one process.  Reported:
the mean training time per epoch and the held-out ELBO (nats per image, the
10 000 test images, closed-form KL, averaged over 5 noise draws) after the
epochs run.

PyTorch is an optional benchmark dependency (``pip install torch``), never a
runtime one.  Fashion-MNIST is read from the Debian package
dataset-fashion-mnist (``/usr/share/datasets/fashion-mnist``) or
``--data-dir``; without it the script says so and uses synthetic data of the
same shape (60 000 + 10 000 images of 784 intensities in [0, 1]).

The PyTorch side follows the example (``sigmoid`` + ``binary_cross_entropy``,
``reduction='sum'``) but feeds batches from an in-memory tensor with
``randperm`` instead of a DataLoader, so its time is the model's alone.

Usage::

    python benchmarks/bench_vae.py                  # 2 epochs, 1 thread
    python benchmarks/bench_vae.py --epochs 10      # the ELBO comparison
    python benchmarks/bench_vae.py --device gpu     # CuPy beside PyTorch on CUDA
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def load_idx_images(path: str) -> np.ndarray:
    """Images of an idx3-ubyte(.gz) file as float32 in [0, 1], shape (n, 784)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051:
        raise ValueError(f"{path} is not an idx3 image file (magic {magic}).")
    pixels = np.frombuffer(data[16:], dtype=np.uint8, count=n * rows * cols)
    return (pixels.reshape(n, rows * cols) / np.float32(255)).astype(np.float32)


def load_data(data_dir: str, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    files = {}
    for split, stem in [("train", "train-images-idx3-ubyte"), ("test", "t10k-images-idx3-ubyte")]:
        for name in (stem + ".gz", stem):
            if os.path.exists(os.path.join(data_dir, name)):
                files[split] = os.path.join(data_dir, name)
                break
    if len(files) == 2:
        return load_idx_images(files["train"]), load_idx_images(files["test"]), f"Fashion-MNIST ({data_dir})"
    # Same shape and range; smooth-ish images so the model has something to learn.
    rng = np.random.default_rng(seed)
    basis = rng.uniform(size=(20, 784)).astype(np.float32)
    def make(n):
        w = rng.dirichlet(np.full(20, 0.3), size=n).astype(np.float32)
        return np.clip(w @ basis + 0.05 * rng.normal(size=(n, 784)).astype(np.float32), 0, 1)
    return make(60_000), make(10_000), "SYNTHETIC data (Fashion-MNIST not found; apt-get install dataset-fashion-mnist)"


# ----------------------------------------------------------------- varbayes
def run_varbayes(Xtr, Xte, epochs, seed, device="cpu"):
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    from varbayes.vae import VAE

    vae = VAE(20, hidden_layer_sizes=(400,), activation="relu", likelihood="bernoulli", learning_rate=1e-3,
              batch_size=128, max_iter=epochs, shuffle=True, tol=0.0, n_iter_no_change=10**9,
              random_state=seed, dtype="float32", device=device)
    if device == "gpu":  # compile CuPy's kernels first, outside the timing
        import cupy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clone(vae).set_params(max_iter=1).fit(Xtr[:2048])
        Xtr, Xte = cupy.asarray(Xtr), cupy.asarray(Xte)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        vae.fit(Xtr)
        total = time.perf_counter() - start
    epoch_times = np.diff(np.concatenate([[0.0], vae.elbo_.times]))
    held_out = float(vae.elbo(Xte, n_samples=5).mean())
    return {"epoch_times": epoch_times, "total": total, "train_elbo": vae.elbo_.values, "held_out": held_out}


# ----------------------------------------------------------------- PyTorch
def run_torch(Xtr, Xte, epochs, seed, threads, device="cpu"):
    import torch
    import torch.nn.functional as F
    from torch import nn, optim

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    class TorchVAE(nn.Module):  # pytorch/examples vae/main.py
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = torch.randn_like(std)
            return mu + eps * std

        def decode_logits(self, z):
            return self.fc4(F.relu(self.fc3(z)))

        def forward(self, x):
            mu, logvar = self.encode(x)
            z = self.reparameterize(mu, logvar)
            return torch.sigmoid(self.decode_logits(z)), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    device = "cuda" if device == "gpu" else "cpu"
    model = TorchVAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    X = torch.from_numpy(Xtr).to(device)
    n = X.shape[0]
    epoch_times, train_elbo = [], []
    if device == "cuda":  # a throwaway model's step first (cuBLAS handles, kernels), outside the timing
        warm = TorchVAE().to(device)
        recon, mu, logvar = warm(X[:128])
        loss_function(recon, X[:128], mu, logvar).backward()
        optim.Adam(warm.parameters(), lr=1e-3).step()
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        total_loss = 0.0
        perm = torch.randperm(n, device=device)
        for lo in range(0, n, 128):
            data = X[perm[lo : lo + 128]]
            optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = loss_function(recon, data, mu, logvar)
            loss.backward()
            total_loss += loss.item()
            optimizer.step()
        epoch_times.append(time.perf_counter() - t0)
        train_elbo.append(-total_loss / n)
    total = time.perf_counter() - start

    # Held-out ELBO from logits (stable), closed-form KL, 5 draws.
    model.eval()
    Xt = torch.from_numpy(Xte).to(device)
    with torch.no_grad():
        mu, logvar = model.encode(Xt)
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1).double()
        rec = torch.zeros(Xt.shape[0], dtype=torch.float64, device=device)
        for _ in range(5):
            logits = model.decode_logits(model.reparameterize(mu, logvar))
            rec -= F.binary_cross_entropy_with_logits(logits, Xt, reduction="none").sum(1).double()
        held_out = float((rec / 5 - kld).mean())
    return {"epoch_times": np.asarray(epoch_times), "total": total, "train_elbo": np.asarray(train_elbo),
            "held_out": held_out, "version": torch.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--data-dir", default=DEFAULT_DIR)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="gpu: varbayes on CuPy and PyTorch on CUDA (threads then only limit the host side)")
    args = parser.parse_args(argv)

    Xtr, Xte, source = load_data(args.data_dir, args.seed)
    if args.n_train:
        Xtr = Xtr[: args.n_train]
    print(f"data: {source}; train {Xtr.shape}, test {Xte.shape}, float32")
    print(f"threads: {args.threads} (threadpoolctl BLAS limit and torch.set_num_threads); epochs: {args.epochs}")

    results = {}
    with threadpool_limits(limits=args.threads):
        results["varbayes"] = run_varbayes(Xtr, Xte, args.epochs, args.seed, args.device)
        if not args.skip_torch:
            try:
                results["torch"] = run_torch(Xtr, Xte, args.epochs, args.seed, args.threads, args.device)
            except ImportError:
                print("PyTorch is not installed (pip install torch): varbayes only.")

    print()
    print("| implementation | epoch time (s), mean | first epoch (s) | train ELBO, last epoch | held-out ELBO |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        label = name if name == "varbayes" else f"PyTorch {r['version']} {'CUDA' if args.device == 'gpu' else 'CPU'}"
        t = r["epoch_times"]
        print(f"| {label} | {t.mean():.2f} | {t[0]:.2f} | {r['train_elbo'][-1]:.2f} | {r['held_out']:.2f} |")
    if "torch" in results:
        ratio = results["varbayes"]["epoch_times"].mean() / results["torch"]["epoch_times"].mean()
        gap = results["varbayes"]["held_out"] - results["torch"]["held_out"]
        print()
        print(f"epoch time ratio varbayes / PyTorch: {ratio:.2f}x (target <= 1.0x)")
        print(f"held-out ELBO varbayes - PyTorch: {gap:+.2f} nats (target: within 0.5 after 10 epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
