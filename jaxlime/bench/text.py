"""Text LIME: lime 0.2.0.1 against jaxlime's token and string paths on a Flax sentiment model.

  jaxlime bench --only text [--quick]

Everything runs in one process on the embedding-bag classifier of `jaxlime.bench.models` (trained
on the package's sentiment.tsv), explaining its sentences with S = 5000 perturbations each and
lime's defaults (bag of words, `feature_selection="auto"`, 10 features). Full: 10 texts for lime,
100 for the string path, 1000 for the token path, 3 repeats; --quick: 3, 20, 100, 1 repeat.

* lime: `LimeTextExplainer.explain_instance`, one text at a time (skipped with a note when lime
  is not installed). Its `classifier_fn` tokenises
  the strings in Python and runs the jitted model on them, padded to the longest sentence.
* jaxlime, string path: `TextExplainer.explain(texts, classifier_fn)` with that same function
  (the lime-compatible path: masks and fits in JAX, strings and the model call on the host).
* jaxlime, token path: `TextExplainer.explain(texts, model, tokenizer=...)`: one jitted
  computation (masking, model, kernel and fits) over all texts.
* floor: the jitted model alone on the N * S token rows in the token path's chunk size (rows
  of random word ids), which no explainer that evaluates the model on S samples can beat.

Compile time is the first call minus the steady time; the steady time is the median of the
repeated calls with different keys.
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxlime
from jaxlime._src.streaming import choose_call  # The token path's calls, to match the floor.
from jaxlime._src.text import plan_token_blocks  # The token path's chunks, to match the floor.
from jaxlime.bench import harness
from jaxlime.bench.models import PAD
from jaxlime.bench.models import load_sentiment
from jaxlime.bench.models import train_sentiment_model

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


# Texts for the token path, the string path and lime; repeated jaxlime calls.
FULL = dict(n=1000, string_n=100, lime_n=10, repeats=3)
QUICK = dict(n=100, string_n=20, lime_n=3, repeats=1)


def run(options: harness.Options) -> dict:
  """The text rows: lime, jaxlime's string and token paths, and the model floor."""
  settings = dict(QUICK if options.quick else FULL, num_samples=NUM_SAMPLES)
  n, string_n, repeats = settings["n"], settings["string_n"], settings["repeats"]
  lime = harness.peer("lime")
  notes = [] if lime else [harness.missing_peer_note("lime", "the lime row")]
  model, tokenizer, accuracy = train_sentiment_model()
  sentences, _ = load_sentiment()
  texts = [sentences[i % len(sentences)] for i in range(n)]
  num_tokens = max(len(tokenizer(text)) for text in sentences)
  classify = string_classifier(model, tokenizer, num_tokens)
  classify(texts[:2])  # Compiles the classifier outside the timings.
  explainer = jaxlime.TextExplainer()
  case = "sentiment"
  rows = []

  if lime:
    from lime import lime_text

    print("lime ...", flush=True)
    lime_explainer = lime_text.LimeTextExplainer(random_state=0)
    lime_times = [
        _timed(
            lambda text=text: lime_explainer.explain_instance(
                text, classify, num_samples=NUM_SAMPLES
            ).as_list()
        )
        for text in texts[: settings["lime_n"]]
    ]
    rows.append(
        dict(
            case=case,
            method="lime",
            role="peer",
            n=len(lime_times),
            seconds=sum(lime_times),
            seconds_per_item=statistics.median(lime_times),
            note="median per text",
        )
    )

  def by_strings(key):
    return explainer.explain(texts[:string_n], classify, key=key, num_samples=NUM_SAMPLES).coef

  print("jaxlime, string path ...", flush=True)
  first, steady = _steady(by_strings, repeats)
  rows.append(
      dict(
          case=case,
          method="jaxlime, strings",
          role="jaxlime",
          n=string_n,
          seconds=steady,
          compile_seconds=first - steady,
          note="host classifier_fn, as lime's",
      )
  )

  def by_tokens(key):
    return explainer.explain(
        texts, model, key=key, num_samples=NUM_SAMPLES, tokenizer=tokenizer
    ).coef

  print("jaxlime, token path ...", flush=True)
  first, steady = _steady(by_tokens, repeats)
  rows.append(
      dict(
          case=case,
          method="jaxlime, tokens",
          role="jaxlime",
          n=n,
          seconds=steady,
          compile_seconds=first - steady,
          note="one jitted computation",
      )
  )

  padded_tokens = -(-num_tokens // 4) * 4
  max_block, call_rows = plan_token_blocks(NUM_SAMPLES, padded_tokens, None)
  block, _, _ = choose_call(n, max_block, 1, instances_per_call=None)
  chunk_size = min(call_rows, block * NUM_SAMPLES)
  print("model floor ...", flush=True)
  floor = model_floor(model, n * NUM_SAMPLES, padded_tokens, chunk_size, len(tokenizer), repeats)
  rows.append(
      dict(
          case=case,
          method="model floor",
          role="floor",
          n=n,
          seconds=floor,
          note=f"the jitted model on N x S rows of {padded_tokens} tokens",
      )
  )
  settings.update(num_tokens=padded_tokens, accuracy=accuracy, chunk_size=chunk_size)
  return dict(rows=rows, figures=[], settings=settings, notes=notes)
