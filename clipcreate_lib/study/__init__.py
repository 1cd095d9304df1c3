"""Stage 6 — the user study (notebook ``06_user_study``; the paper's §IV-B and Table II).

``questions`` holds the paper's five questions and scales, ``kit`` builds the anonymous kit of
evaluation images (and its key, kept apart), ``survey`` serves it to raters and stores every answer
(its HTML in ``pages``), ``responses`` reads and checks answer files, and ``table2`` computes Table II.
"""
