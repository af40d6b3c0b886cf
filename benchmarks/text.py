"""Text LIME: lime 0.2.0.1 against jaxlime's token and string paths on a Flax sentiment model.

  python benchmarks/text.py            # full run (a few minutes on a 2-core CPU)
  python benchmarks/text.py --quick    # smoke run

Everything runs in one process on the embedding-bag classifier of `examples/text.py` (trained on
examples/data/sentiment.tsv), explaining its sentences with S = 5000 perturbations each and
lime's defaults (bag of words, `feature_selection="auto"`, 10 features):

* lime: `LimeTextExplainer.explain_instance`, one text at a time. Its `classifier_fn` tokenises
  the strings in Python and runs the jitted model on them, padded to the longest sentence.
* jaxlime, string path: `TextExplainer.explain(texts, classifier_fn)` with that same function
  (the lime-compatible path: masks and fits in JAX, strings and the model call on the host).
* jaxlime, token path: `TextExplainer.explain(texts, model, tokenizer=...)`: one jitted
  computation (masking, model, kernel and fits) over all texts.
* floor: the jitted model alone on the N * S token rows in the token path's chunk size (rows
  of random word ids), which no explainer that evaluates the model on S samples can beat.

Compile time is the first call minus the steady time; the steady time is the median of
`--repeats` calls with different keys. Results are printed and written as JSON to
benchmarks/results/text.json (text_quick.json with --quick).
"""

import argparse
from importlib import metadata
import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from lime import lime_text

import jaxlime
from jaxlime._src.streaming import choose_call  # The token path's calls, to match the floor.
from jaxlime._src.text import plan_token_blocks  # The token path's chunks, to match the floor.

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from text import PAD, load_sentiment, train_sentiment_model  # noqa: E402

NUM_SAMPLES = 5000


def _timed(function):
  start = time.perf_counter()
  result = function()
  jax.block_until_ready(result)
  return time.perf_counter() - start


def _steady(function, repeats):
  """(first call seconds, median of `repeats` further calls); function(key) -> arrays."""
  first = _timed(lambda: function(0))
  times = [_timed(lambda: function(key)) for key in range(1, repeats + 1)]
  return first, statistics.median(times)


def string_classifier(model, tokenizer, num_tokens):
  """lime's classifier_fn for the model: tokenise in Python, pad, run the jitted model."""
  graphdef, state = nnx.split(model)

  @jax.jit
  def predict(state, ids):
    return nnx.merge(graphdef, state)(ids, ids != PAD)

  def classify(strings):
    return np.asarray(predict(state, jnp.asarray(tokenizer.batch(strings, num_tokens))))

  return classify


def model_floor(model, num_rows, num_tokens, chunk_size, vocabulary_size, repeats):
  """Seconds for the jitted model alone on num_rows random token rows, in chunks."""
  graphdef, state = nnx.split(model)
  rows = -(-num_rows // chunk_size) * chunk_size
  ids = jax.random.randint(
      jax.random.key(0), (rows // chunk_size, chunk_size, num_tokens), 2, vocabulary_size
  )

  @jax.jit
  def run(state, ids):
    module = nnx.merge(graphdef, state)
    return jax.lax.map(lambda chunk: module(chunk, chunk != PAD), ids)

  jax.block_until_ready(run(state, ids))
  return statistics.median(_timed(lambda: run(state, ids)) for _ in range(repeats))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="smoke run: small N, 1 repeat")
  parser.add_argument("--n", type=int, default=1000, help="texts explained by the token path")
  parser.add_argument(
      "--string-n", type=int, default=100, help="texts explained by the string path"
  )
  parser.add_argument("--lime-n", type=int, default=10, help="texts explained by lime")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  if args.quick:
    args.n, args.string_n, args.lime_n, args.repeats = 100, 20, 3, 1

  model, tokenizer, accuracy = train_sentiment_model()
  sentences, _ = load_sentiment()
  texts = [sentences[i % len(sentences)] for i in range(args.n)]
  num_tokens = max(len(tokenizer(text)) for text in sentences)
  classify = string_classifier(model, tokenizer, num_tokens)
  explainer = jaxlime.TextExplainer()
  results = []

  lime_explainer = lime_text.LimeTextExplainer(random_state=0)
  classify(texts[:2])  # Compile the classifier outside the timings.
  lime_times = [
      _timed(
          lambda text=text: lime_explainer.explain_instance(
              text, classify, num_samples=NUM_SAMPLES
          ).as_list()
      )
      for text in texts[: args.lime_n]
  ]
  lime_seconds = statistics.median(lime_times)
  results.append(
      dict(method="lime", texts=args.lime_n, compile_s=0.0, seconds_per_text=lime_seconds)
  )

  def by_strings(key):
    return explainer.explain(
        texts[: args.string_n], classify, key=key, num_samples=NUM_SAMPLES
    ).coef

  first, steady = _steady(by_strings, args.repeats)
  results.append(
      dict(
          method="jaxlime strings",
          texts=args.string_n,
          compile_s=first - steady,
          seconds_per_text=steady / args.string_n,
      )
  )

  def by_tokens(key):
    return explainer.explain(
        texts, model, key=key, num_samples=NUM_SAMPLES, tokenizer=tokenizer
    ).coef

  first, steady = _steady(by_tokens, args.repeats)
  results.append(
      dict(
          method="jaxlime tokens",
          texts=args.n,
          compile_s=first - steady,
          seconds_per_text=steady / args.n,
      )
  )

  padded_tokens = -(-num_tokens // 4) * 4
  max_block, rows = plan_token_blocks(NUM_SAMPLES, padded_tokens, None)
  block, _, _ = choose_call(args.n, max_block, 1, instances_per_call=None)
  chunk_size = min(rows, block * NUM_SAMPLES)
  floor = model_floor(
      model, args.n * NUM_SAMPLES, padded_tokens, chunk_size, len(tokenizer), args.repeats
  )
  results.append(
      dict(method="model floor", texts=args.n, compile_s=0.0, seconds_per_text=floor / args.n)
  )

  floor_per_text = floor / args.n
  print(
      f"\nS = {NUM_SAMPLES}, T = {padded_tokens} tokens (longest sentence {num_tokens}), "
      f"held-out accuracy {accuracy:.2f}\n"
  )
  print(
      f"{'method':<18}{'texts':>7}{'compile s':>11}{'ms/text':>10}{'texts/s':>10}"
      f"{'x lime':>9}{'/ floor':>9}"
  )
  for row in results:
    row["texts_per_second"] = 1 / row["seconds_per_text"]
    row["speedup_over_lime"] = lime_seconds / row["seconds_per_text"]
    row["over_floor"] = row["seconds_per_text"] / floor_per_text
    print(
        f"{row['method']:<18}{row['texts']:>7}{row['compile_s']:>11.2f}"
        f"{1e3 * row['seconds_per_text']:>10.2f}{row['texts_per_second']:>10.1f}"
        f"{row['speedup_over_lime']:>9.1f}{row['over_floor']:>9.2f}"
    )

  output = ROOT / "benchmarks" / "results" / ("text_quick.json" if args.quick else "text.json")
  output.parent.mkdir(parents=True, exist_ok=True)
  versions = {name: metadata.version(name) for name in ("jax", "jaxlib", "flax", "lime")}
  output.write_text(
      json.dumps(
          dict(
              command=shlex.join([sys.executable, *sys.argv]),
              machine=dict(
                  platform=platform.platform(),
                  processor=platform.processor(),
                  cpus=os.cpu_count(),
                  load_average=os.getloadavg(),
              ),
              versions=versions,
              num_samples=NUM_SAMPLES,
              num_tokens=padded_tokens,
              results=results,
          ),
          indent=2,
      )
      + "\n"
  )
  print(f"\nwrote {output}")


if __name__ == "__main__":
  main()
