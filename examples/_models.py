"""The examples' models live in the package (`jaxlime.bench.models`) so that `jaxlime demo` and
`jaxlime bench` work from an installed jaxlime; the examples import them from here."""

from jaxlime.bench.models import train_breast_cancer_mlp

__all__ = ["train_breast_cancer_mlp"]
