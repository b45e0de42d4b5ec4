"""Package layout that pyproject.toml cannot state: the repository's ``data/`` folder (world spec,
lexicons, shipped weights) installs as the package ``imagen_audit_data``, so a non-editable
``pip install .`` carries it (``audit.resources`` finds it either way)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["audit*", "generator*", "probes*"]) + ["imagen_audit_data"],
    package_dir={"imagen_audit_data": "data"},
    package_data={"probes": ["suites/*.yaml"], "audit": ["report/vendor/*"], "imagen_audit_data": ["*", "**/*"]},
    exclude_package_data={"imagen_audit_data": ["**/__pycache__/*"]},
)
