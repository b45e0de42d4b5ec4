"""imagen-audit: bias and safety audits for text-to-image models and image-text datasets.

Importing this package is cheap: no torch, no model. Heavy modules are imported
by the functions that need them.
"""

__version__ = "0.1.0"
