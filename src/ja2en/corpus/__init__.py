"""A finished run's folder as a corpus: reading it back with pair filters (output.py), exporting
TMX/Moses/TSV (export.py), and publishing a Hugging Face dataset with its card (publish.py, card.py)."""
