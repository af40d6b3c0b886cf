"""Right for the right reasons: train a Flax MLP whose LIME explanation must ignore a shortcut.

  pip install -e ".[examples]" && python examples/research.py        # full size
  python examples/research.py --quick                                # small, for tests

After Ross, Hughes & Doshi-Velez (2017), "Right for the Right Reasons", with LIME's attribution
in place of the input gradient. The breast cancer data gets a 31st column, "scanner": in the
training data every benign case was scanned on scanner B and every malignant one on scanner A,
so the scanner alone predicts the label. Where the model is deployed the scanner is unrelated to
the diagnosis. Three MLPs train from the same initialisation on the same minibatches with optax:

  plain:         cross-entropy;
  penalised:     cross-entropy + penalty * mean over the minibatch of (LIME weight of "scanner")^2;
  unconfounded:  cross-entropy on the same rows with a scanner independent of the label, the
                 reference: what a model that never saw the shortcut explains.

The LIME weights come from `TabularExplainer(...).explain_fn(model, ...)`, the per-instance
explanation under `explain`, vmapped over the minibatch inside the jitted loss: `jax.grad` of
the loss differentiates through the explanation (the weighted ridge solve on the model's outputs
at the perturbations) into the model's parameters.

The penalty's weight matters. LIME's tabular perturbations draw every column independently, far
from the data, and a model can lower every LIME weight at once by being flat there: with
`--penalty 10` the scanner's weight falls further but so do all the others (their sum drops
about 7-fold below the unconfounded model's), a model shaped to look innocent to LIME (the
weakness Slack et al. 2020 exploit to fool it). The default of 1 brings the scanner's weight to
or below the unconfounded model's while the other features keep theirs.

Writes examples/output/research.png: the mean |LIME weight| of "scanner" on held-out rows over
training, the accuracy on held-out rows with the scanner still leaking the label and with the
scanner independent of it, and the final models' mean |LIME weight| of each feature.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn import datasets
from sklearn import model_selection

import jaxlime
from _models import MLP
from _models import Statistic


def shortcut_data(seed: int = 0) -> dict:
  """Breast cancer with a 31st column, "scanner" (0 = A, 1 = B), that leaks the label in training.

  Returns a dict with X_train [M, 31] (scanner = label), X_unconfounded [M, 31] (the same rows,
  scanner drawn independently of the label with the same frequency of B), y_train [M];
  X_kept [T, 31] (held-out rows, scanner = label, as in training), X_broken [T, 31] (the same
  rows, scanner independent of the label), y_test [T]; feature_names (31), class_names (2).
  """
  dataset = datasets.load_breast_cancer()
  X = dataset.data.astype(np.float32)
  y = dataset.target.astype(np.int32)  # 1 = benign.
  X_train, X_test, y_train, y_test = model_selection.train_test_split(
      X, y, test_size=0.3, random_state=seed, stratify=y
  )
  rng = np.random.default_rng(seed)
  independent = lambda n: (rng.random(n) < y_train.mean()).astype(np.float32)  # noqa: E731
  return dict(
      X_train=np.column_stack([X_train, y_train.astype(np.float32)]),
      X_unconfounded=np.column_stack([X_train, independent(len(y_train))]),
      y_train=y_train,
      X_kept=np.column_stack([X_test, y_test.astype(np.float32)]),
      X_broken=np.column_stack([X_test, independent(len(y_test))]),
      y_test=y_test,
      feature_names=[str(name) for name in dataset.feature_names] + ["scanner"],
      class_names=[str(name) for name in dataset.target_names],
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      "--quick", action="store_true", help="200 steps, 64 LIME samples per training row"
  )
  parser.add_argument("--penalty", type=float, default=1.0, help="weight of the LIME penalty")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument(
      "--output",
      type=pathlib.Path,
      default=pathlib.Path(__file__).parent / "output" / "research.png",
  )
  args = parser.parse_args()
  start = time.perf_counter()

  steps = 200 if args.quick else 600
  eval_every = 25 if args.quick else 30
  batch_size = 32
  train_samples = 64 if args.quick else 128  # LIME perturbations per minibatch row.
  eval_samples = 500 if args.quick else 1000  # per held-out row, for the curves.

  data = shortcut_data(args.seed)
  names = data["feature_names"]
  shortcut = names.index("scanner")
  num_columns = len(names)

  # lime's default tabular explainer (quartile bins), with the scanner as a categorical column.
  # No feature selection: every column keeps a coefficient, the scanner's included.
  explainer = jaxlime.TabularExplainer(
      data["X_train"],
      feature_names=names,
      class_names=data["class_names"],
      categorical_features=[shortcut],
      categorical_names={shortcut: ["A", "B"]},
      feature_selection="none",
  )

  X_train = data["X_train"]
  model = MLP(
      X_train.mean(axis=0), X_train.std(axis=0), (64, 64), num_classes=2, rngs=nnx.Rngs(args.seed)
  )
  graphdef, initial_params, statistics = nnx.split(model, nnx.Param, Statistic)
  optimizer = optax.adam(1e-3)

  def lime_weights(params, X, keys, num_samples):
    """[B, F] LIME coefficients of P(benign) at the rows X [B, F], one key per row."""
    fn = explainer.explain_fn(
        nnx.merge(graphdef, params, statistics),
        num_samples=num_samples,
        num_features=num_columns,
        labels=(1,),
    )
    return jax.vmap(fn)(X, keys).coef[:, 0, :]

  def loss_fn(params, inputs, labels, keys, penalty):
    logits = nnx.merge(graphdef, params, statistics).logits(inputs)
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    weights = lime_weights(params, inputs, keys, train_samples)
    return cross_entropy + penalty * jnp.mean(jnp.square(weights[:, shortcut]))

  @jax.jit
  def train_step(params, opt_state, inputs, labels, key, penalty):
    keys = jaxlime.instance_keys(key, inputs.shape[0])
    grads = jax.grad(loss_fn)(params, inputs, labels, keys, penalty)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  X_kept, X_broken = jnp.asarray(data["X_kept"]), jnp.asarray(data["X_broken"])
  y_test = jnp.asarray(data["y_test"])
  eval_keys = jaxlime.instance_keys(args.seed, len(y_test))  # The same samples at every check.

  @jax.jit
  def evaluate(params):
    """Mean |LIME weight| [F] over the held-out rows (scanner independent), both accuracies."""
    module = nnx.merge(graphdef, params, statistics)
    weights = lime_weights(params, X_broken, eval_keys, eval_samples)
    accuracy = lambda X: jnp.mean(jnp.argmax(module.logits(X), axis=-1) == y_test)  # noqa: E731
    return jnp.mean(jnp.abs(weights), axis=0), accuracy(X_kept), accuracy(X_broken)

  step_keys = jaxlime.instance_keys(args.seed + 1, steps)  # Shared by every run.
  rng = np.random.default_rng(args.seed)
  order = np.concatenate([rng.permutation(len(X_train)) for _ in range(steps)])
  batches = order[: steps * batch_size].reshape(steps, batch_size)

  runs = {}
  for name, inputs, penalty in (
      ("plain", X_train, 0.0),
      ("penalised", X_train, args.penalty),
      ("unconfounded", data["X_unconfounded"], 0.0),
  ):
    params, opt_state = initial_params, optimizer.init(initial_params)
    history = dict(step=[], shortcut=[], kept=[], broken=[])
    for step in range(steps + 1):
      if step % eval_every == 0 or step == steps:
        mean_abs, kept, broken = jax.device_get(evaluate(params))
        if not np.isfinite(mean_abs).all():
          raise FloatingPointError(f"{name}: the LIME weights became NaN/inf at step {step}.")
        history["step"].append(step)
        history["shortcut"].append(float(mean_abs[shortcut]))
        history["kept"].append(float(kept))
        history["broken"].append(float(broken))
      if step < steps:
        rows = batches[step]
        params, opt_state = train_step(
            params, opt_state, inputs[rows], data["y_train"][rows], step_keys[step], penalty
        )
    history["mean_abs"] = np.asarray(mean_abs)
    runs[name] = history

  elapsed = time.perf_counter() - start
  print(
      f"Trained three MLPs for {steps} steps each in {elapsed:.1f} s (compilation included); "
      f"LIME penalty {args.penalty:g}."
  )
  print("Mean |LIME weight| of P(benign) over the held-out rows, and held-out accuracy:")
  print(
      f"{'':12s} {'scanner':>8s} {'rank':>5s} {'others, sum':>12s} {'accuracy, scanner leaks':>24s} "
      f"{'accuracy, scanner independent':>30s}"
  )
  for name, history in runs.items():
    weights = history["mean_abs"]
    rank = 1 + int(np.sum(weights > weights[shortcut]))
    others = float(weights.sum() - weights[shortcut])
    print(
        f"{name:12s} {weights[shortcut]:8.3f} {rank:5d} {others:12.3f} {history['kept'][-1]:24.3f} "
        f"{history['broken'][-1]:30.3f}"
    )
  save_figure(runs, names, shortcut, args.output)
  print(f"Saved {args.output}")


def save_figure(runs: dict, names: list[str], shortcut: int, path: pathlib.Path):
  """Three panels: the scanner's attribution over training, the accuracies, the final weights."""
  import matplotlib

  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  colours = {"plain": "tab:red", "penalised": "tab:blue", "unconfounded": "tab:gray"}
  figure, axes = plt.subplots(1, 3, figsize=(16, 4.8), width_ratios=(1, 1, 1.2))
  for name, history in runs.items():
    axes[0].plot(history["step"], history["shortcut"], color=colours[name], label=name)
    axes[1].plot(history["step"], history["broken"], color=colours[name], label=name)
    axes[1].plot(history["step"], history["kept"], color=colours[name], ls="--")
  axes[0].set(
      xlabel="training step",
      ylabel='mean |LIME weight| of "scanner"',
      title="Attribution to the shortcut (held-out rows)",
  )
  axes[0].legend()
  axes[1].plot([], [], color="black", label="scanner independent")
  axes[1].plot([], [], color="black", ls="--", label="scanner leaks the label")
  axes[1].set(
      xlabel="training step",
      ylabel="held-out accuracy",
      title="Accuracy (the untrained start is off the axis)",
      ylim=(0.8, 1.005),
  )
  axes[1].legend(fontsize=9, loc="lower right")

  # The scanner and the nine largest other features, largest at the top.
  final = np.stack([history["mean_abs"] for history in runs.values()])  # [runs, F]
  largest = final.max(axis=0)
  others = [j for j in np.argsort(-largest) if j != shortcut]
  top = np.asarray([shortcut] + others[:9])
  top = top[np.argsort(largest[top])]
  positions = np.arange(len(top))
  height = 0.8 / len(runs)
  for r, name in enumerate(runs):
    offset = (len(runs) - 1) / 2 * height - r * height
    axes[2].barh(positions + offset, final[r, top], height=height, color=colours[name], label=name)
  axes[2].set_yticks(positions, [names[j] for j in top])
  axes[2].get_yticklabels()[int(np.flatnonzero(top == shortcut)[0])].set_fontweight("bold")
  axes[2].set(xlabel="mean |LIME weight| (held-out rows)", title="Final explanations")
  axes[2].legend()
  figure.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(path, dpi=110)
  plt.close(figure)


if __name__ == "__main__":
  main()
