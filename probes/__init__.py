"""Probe suites: templated prompts with counterfactual axes and reference distributions.

Public API: :func:`probes.suite.load_suite`, :func:`probes.suite.resolve_suite`,
:func:`probes.expand.expand_prompts`, :func:`probes.expand.expand_samples`.
"""
