"""The examples' models live in the package (`jaxlime.bench.models`) so that `jaxlime demo` and
`jaxlime bench` work from an installed jaxlime; the examples import them from here."""

from jaxlime.bench.models import MLP
from jaxlime.bench.models import Statistic
from jaxlime.bench.models import train_breast_cancer_mlp

__all__ = ["MLP", "Statistic", "train_breast_cancer_mlp"]
