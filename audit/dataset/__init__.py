"""Audits of LAION-style image-text datasets (``imagen-audit dataset audit``).

Modules, in data-flow order:

- :mod:`audit.dataset.lexicon` -- lexicon files (YAML) merged into flat tables;
- :mod:`audit.dataset.sources` -- layout detection, cut into text tasks;
- :mod:`audit.dataset.readers` -- streaming a task's caption batches (dictionaries for repeated captions);
- :mod:`audit.dataset.columns` -- clean caption strings and NSFW flags from raw columns;
- :mod:`audit.dataset.tagger` -- whole-word Aho-Corasick tagging of a batch in one pass;
- :mod:`audit.dataset.senses` -- sense rules: is a hit used in the counted sense (product, name, ...);
- :mod:`audit.dataset.sense_words` -- the context word lists the sense rules read (``senses.yaml``);
- :mod:`audit.dataset.sense_model` -- the opt-in learned sense model for identity hits (``--sense-model``);
- :mod:`audit.dataset.sense_train` -- rebuilds that model from the labelled caption sets;
- :mod:`audit.dataset.language` -- fast guess of non-English captions;
- :mod:`audit.dataset.textstats` -- counting a batch once per distinct caption (:class:`TextAuditor`);
- :mod:`audit.dataset.counts` -- the mergeable counts (:class:`TextCounts`);
- :mod:`audit.dataset.examples` -- example captions per tag and per pair, kept while counting;
- :mod:`audit.dataset.langstats` -- language-quality statistics of a batch;
- :mod:`audit.dataset.distinct` -- exact-then-HyperLogLog distinct caption counter;
- :mod:`audit.dataset.run` -- execution over tasks (in process, local processes or Dask), merging counts;
- :mod:`audit.dataset.results` -- term frequencies, co-occurrence with nPMI, per-query rates;
- :mod:`audit.dataset.images` -- the image side (labels per caption concept, agreement);
- :mod:`audit.dataset.confusion` -- the labeler-error matrices the image side corrects with (``--confusion``);
- :mod:`audit.dataset.table` -- the audit's numbers as the one tidy results table (``results.parquet``);
- :mod:`audit.dataset.card`, :mod:`audit.dataset.report` -- dataset card and HTML report;
- :mod:`audit.dataset.pipeline` -- :func:`run_dataset_audit`, everything end to end;
- :mod:`audit.dataset.synthetic` -- LAION-style rows for benchmarks and tests;
- :mod:`audit.dataset.caption_classifier` -- optional model-based caption classifier vs the lexicon;
- :mod:`audit.dataset.classify` -- the classifier's pass over a dataset (bounded samples, agreement).

Nothing is imported here, so ``import audit.dataset`` is free.

Examples
--------
>>> from audit.dataset.pipeline import run_dataset_audit  # doctest: +SKIP
>>> run_dataset_audit("laion_part.parquet", out_dir="out/")  # doctest: +SKIP
"""
