"""Human validation of labelers: annotate a stratified sample of a run's images in the browser, then validate.

- :mod:`audit.annotate.store` -- the sample (stratified per concept x labeler
  answer) and the annotation file, saved atomically after every answer.
- :mod:`audit.annotate.server` -- a local web page on 127.0.0.1 (stdlib
  ``http.server``): one key press per image, "can't tell", progress, undo.
- :mod:`audit.annotate.validate` -- per labeler accuracy per group with
  Wilson intervals, the confusion matrix estimated from the annotations
  (``validation/confusion.json``) and agreement across annotators
  (Krippendorff's alpha).

Nothing here imports torch.
"""
