"""jaxlime: LIME explanations for thousands of instances at once, as jitted, vmapped JAX."""

from jaxlime._src.adaptive import UntilStable
from jaxlime._src.ale import AccumulatedLocalEffects
from jaxlime._src.ale import accumulated_local_effects
from jaxlime._src.explanation import Explanation
from jaxlime._src.frames import write_parquet
from jaxlime._src.global_importance import GlobalImportance
from jaxlime._src.global_importance import global_importance
from jaxlime._src.global_plots import ale_figure
from jaxlime._src.global_plots import importance_figure
from jaxlime._src.global_plots import partial_dependence_figure
from jaxlime._src.global_plots import summary_figure
from jaxlime._src.image import ImageExplainer
from jaxlime._src.image import ImageExplanation
from jaxlime._src.kernel_shap import KernelShapExplainer
from jaxlime._src.kernel_shap import ShapExplanation
from jaxlime._src.kernel_shap import kernel_shap_solve
from jaxlime._src.kernels import cosine_distances
from jaxlime._src.kernels import euclidean_distances
from jaxlime._src.kernels import exponential_kernel
from jaxlime._src.keys import instance_keys
from jaxlime._src.models import HostModel
from jaxlime._src.models import host_model
from jaxlime._src.partial_dependence import PartialDependence
from jaxlime._src.partial_dependence import partial_dependence
from jaxlime._src.partial_dependence import partial_dependences
from jaxlime._src.report import report
from jaxlime._src.segmentation import SegmentationAlgorithm
from jaxlime._src.stability import Stability
from jaxlime._src.stability import explain_under_keys
from jaxlime._src.stability import repeat_keys
from jaxlime._src.stability import stability
from jaxlime._src.stability import take_repeat
from jaxlime._src.stability import top_k_jaccard
from jaxlime._src.status import FitStatus
from jaxlime._src.streaming import RunOptions
from jaxlime._src.submodular import SubmodularPick
from jaxlime._src.submodular import explanation_matrix
from jaxlime._src.submodular import pick_explanations
from jaxlime._src.submodular import submodular_pick
from jaxlime._src.surrogate import Surrogate
from jaxlime._src.surrogate import fit_surrogate
from jaxlime._src.tabular import TabularExplainer
from jaxlime._src.text import TextExplainer
from jaxlime._src.text_explanation import TextExplanation

__version__ = "0.2.0"

__all__ = [
    "accumulated_local_effects",
    "AccumulatedLocalEffects",
    "ale_figure",
    "cosine_distances",
    "euclidean_distances",
    "explain_under_keys",
    "Explanation",
    "explanation_matrix",
    "exponential_kernel",
    "fit_surrogate",
    "FitStatus",
    "global_importance",
    "GlobalImportance",
    "host_model",
    "HostModel",
    "ImageExplainer",
    "ImageExplanation",
    "importance_figure",
    "instance_keys",
    "kernel_shap_solve",
    "KernelShapExplainer",
    "partial_dependence",
    "partial_dependence_figure",
    "partial_dependences",
    "PartialDependence",
    "pick_explanations",
    "repeat_keys",
    "report",
    "RunOptions",
    "SegmentationAlgorithm",
    "ShapExplanation",
    "Stability",
    "stability",
    "submodular_pick",
    "SubmodularPick",
    "summary_figure",
    "Surrogate",
    "TabularExplainer",
    "take_repeat",
    "TextExplainer",
    "TextExplanation",
    "UntilStable",
    "top_k_jaccard",
    "write_parquet",
]
