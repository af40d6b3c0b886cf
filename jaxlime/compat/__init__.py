"""lime 0.2.0.1's modules on jaxlime's engine: `from jaxlime.compat import lime_tabular`.

Modules: `lime_tabular`, `lime_text`, `lime_image`, `lime_base`, `explanation`, `discretize`,
`submodular_pick`, `wrappers.scikit_image`, `utils.generic_utils`. Constructors and
`explain_instance` keep lime's signatures; every explainer adds `explain_instances(rows, ...)`.
"""
