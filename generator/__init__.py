"""Generators: the built-in Imagen-style cascade, adapters for other pipelines, and the synthetic world."""
