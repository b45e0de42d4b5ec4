"""Probe suites: templated prompts with counterfactual axes and reference distributions."""
