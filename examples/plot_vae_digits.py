"""
A variational autoencoder on the digits
=======================================

:class:`varbayes.VAE` with a two-dimensional latent space, a Bernoulli
decoder and one hidden layer, trained on scikit-learn's 8x8 digits (pixel
intensities scaled to [0, 1]).  The encoder's posterior means place the ten
digit classes in separate regions of the latent plane, although the VAE never
saw a label; decoding a draw from the prior gives new digits; the ELBO rises
(noisily: the optimisation is stochastic) while its KL term grows as the codes
start to carry information.

See :doc:`/user_guide/amortised`.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from varbayes import VAE

# The VAEs below train for a fixed budget of epochs, on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

digits = load_digits()
X = digits.data / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.25, random_state=0)

vae = VAE(
    n_components=2, hidden_layer_sizes=(128,), likelihood="bernoulli",
    learning_rate=3e-3, max_iter=150, early_stopping=True, random_state=0,
).fit(X_train)
print(f"{vae.n_iter_} epochs; training ELBO {vae.elbo_.values[-1]:.2f}, "
      f"test ELBO {vae.elbo(X_test).mean():.2f} nats per image")

# %%
# The latent space, coloured by the digit
# ---------------------------------------
Z = vae.transform(X_test)
fig, ax = plt.subplots(figsize=(6, 5))
sc = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=8)
fig.colorbar(sc, ax=ax, label="digit")
ax.set_xlabel("z1 (posterior mean)")
ax.set_ylabel("z2 (posterior mean)")
ax.set_title("test digits in the latent space")

# %%
# Reconstructions and samples
# ---------------------------
# Top: test digits.  Middle: their reconstructions, decoded from the
# posterior means.  Bottom: new digits, the decoder's means E[x | z] for
# draws z of the prior (``sample`` also returns Bernoulli pixel draws x ~
# p(x | z), binary images, as its first output).
recon = vae.inverse_transform(Z[:10])
_, Z_prior = vae.sample(10)
samples = vae.inverse_transform(Z_prior)
fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
for i in range(10):
    for row, images in enumerate([X_test, recon, samples]):
        axes[row, i].imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[row, i].set_axis_off()
for row, name in enumerate(["data", "reconstruction", "sample"]):
    axes[row, 0].set_title(name, fontsize="small", loc="left")
fig.tight_layout()

# %%
# ELBO curves
# -----------
# The training ELBO per epoch (raw and smoothed), the validation ELBO used
# for early stopping, and the two terms of the bound.
terms = vae.elbo_.terms
epochs = np.arange(1, len(vae.elbo_) + 1)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
vae.elbo_.plot(ax=ax0, label="training ELBO")
ax0.plot(epochs - 1, terms["validation_elbo"], label="validation ELBO")
ax0.legend(fontsize="small")
ax0.set_title("ELBO per epoch")
ax1.plot(epochs, terms["reconstruction"], label="E_q[log p(x | z)]")
ax1.plot(epochs, -terms["kl"], label="-KL(q(z | x) || p(z))")
ax1.set_xlabel("epoch")
ax1.set_ylabel("nats per image")
ax1.set_title("the two terms of the ELBO")
ax1.legend(fontsize="small")
fig.tight_layout()
