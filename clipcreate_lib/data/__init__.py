"""Stage 1 — the data (notebook ``01_data``; the paper's §III-C).

WikiArt's 27 styles ("full") and the "mediums" label set, the 10 styles whose BLIP captions most
often name a medium word, saved as `datasets` datasets with their provenance; in the tiny and mini
profiles an embedded, deterministic stand-in for WikiArt.

Modules: ``wikiart`` (the style names, the streamed source), ``embedded`` (the stand-in), ``images``
(decoding and conversions), ``label_sets`` (saving and loading the two datasets with provenance),
``captions`` (BLIP captions, cached), ``mediums`` (the selection).
"""
