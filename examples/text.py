"""Explain a Flax NNX sentiment classifier on a batch of sentences with jaxlime's token path.

  python examples/text.py
  python examples/text.py --quick      # small, for tests: short training, 500 samples

Trains a small embedding-bag classifier with optax on the 400 short labelled sentences shipped
in jaxlime/bench/sentiment.tsv (in seconds on a CPU), explains a batch of sentences in one jitted
computation (masking, model, kernel weights and the surrogate fits), prints each sentence's top
words and writes an HTML report to examples/output/text.html.

The model and tokenizer (jaxlime/bench/models.py) are also those of `jaxlime bench`'s text rows.
"""

import argparse
import pathlib
import time

import jax

import jaxlime
from jaxlime.bench.models import SENTIMENT_CLASSES
from jaxlime.bench.models import train_sentiment_model

OUTPUT = pathlib.Path(__file__).resolve().parent / "output" / "text.html"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="short training, 500 samples")
  parser.add_argument("--output", type=pathlib.Path, default=OUTPUT)
  args = parser.parse_args()
  num_samples = 500 if args.quick else 5000

  start = time.perf_counter()
  model, tokenizer, accuracy = train_sentiment_model(steps=50 if args.quick else 300)
  print(f"trained in {time.perf_counter() - start:.1f} s; held-out accuracy {accuracy:.2f}")

  texts = [
      "The acting was wonderful but the plot felt slow and predictable.",
      "What a dull, lifeless film. The soundtrack was lovely though.",
      "I thought the ending was truly touching and the cast brilliant!",
      "Honestly, the dialogue felt clumsy and the pacing tedious.",
      "A clever script with a gripping finale",
      "the characters were boring and the story was silly",
      "beautiful camera work, charming characters, fantastic soundtrack",
      "My friends found the movie disappointing, and so did I.",
  ]
  explainer = jaxlime.TextExplainer(class_names=SENTIMENT_CLASSES)
  start = time.perf_counter()
  explanation = explainer.explain(
      texts, model, key=0, num_samples=num_samples, num_features=6, tokenizer=tokenizer
  )
  jax.block_until_ready(explanation.coef)
  print(
      f"explained {len(texts)} texts ({num_samples} samples each, including compilation) in "
      f"{time.perf_counter() - start:.1f} s"
  )
  for i, text in enumerate(texts):
    probability = float(explanation.prediction[i, 1])
    top = ", ".join(f"{word} {weight:+.3f}" for word, weight in explanation.as_list(i)[:4])
    print(f"P(positive) = {probability:.2f}  {text}\n    {top}")

  args.output.parent.mkdir(parents=True, exist_ok=True)
  pages = "".join(explanation.as_html(i, label=1) for i in range(len(texts)))
  args.output.write_text(
      f"<html><head><meta charset='utf-8'><title>jaxlime text explanations"
      f"</title></head><body>{pages}</body></html>",
      encoding="utf-8",
  )
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
