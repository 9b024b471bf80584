"""
A VAE inside a scikit-learn Pipeline
====================================

:class:`varbayes.VAE` is a scikit-learn transformer: ``transform`` returns
the posterior means of the latent variables, so it can stand in front of any
estimator in a :class:`~sklearn.pipeline.Pipeline`, be cloned, and be tuned
by grid search.  Here an 8-dimensional VAE code feeds a logistic regression
on the digits, beside the same pipeline with PCA.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from varbayes import VAE

# The VAEs below train for a fixed budget of epochs, on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

to_unit = FunctionTransformer(lambda X: X / 16.0)  # Bernoulli decoder: intensities in [0, 1]
pipelines = {
    "VAE (8 latents)": make_pipeline(
        to_unit,
        VAE(n_components=8, hidden_layer_sizes=(128,), likelihood="bernoulli",
            learning_rate=3e-3, max_iter=60, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    ),
    "PCA (8 components)": make_pipeline(to_unit, PCA(n_components=8, random_state=0), StandardScaler(),
                                        LogisticRegression(max_iter=2000)),
}
scores = {}
for name, pipe in pipelines.items():
    pipe.fit(X_train, y_train)
    scores[name] = pipe.score(X_test, y_test)
    print(f"{name}: test accuracy {scores[name]:.3f}")

vae = pipelines["VAE (8 latents)"].named_steps["vae"]
print(vae.get_feature_names_out())

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
ax0.bar(list(scores), list(scores.values()), color=["C0", "C1"])
ax0.set_ylim(0.8, 1.0)
ax0.set_ylabel("test accuracy")
ax0.set_title("logistic regression on 8 features")
vae.elbo_.plot(ax=ax1, label="VAE in the pipeline")
ax1.set_title("the VAE step's training ELBO")
fig.tight_layout()
