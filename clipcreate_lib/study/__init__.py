"""Stage 6 — the user study (notebook ``06_user_study``; the paper's §IV-B and Table II).

``questions`` holds the paper's five questions and scales, ``kit`` builds the anonymous kit of
evaluation images (and its key, kept apart), ``pages`` is the kit as served (each rater's pages and the
checking of a submitted one), ``store`` the append-only SQLite file of consents, answers and attention
checks, ``app`` the Flask survey, ``server`` its waitress server and ``survey`` the command line
(serve, status, export). ``responses`` reads and checks answer files, ``agreement`` holds the rater
bootstrap and Krippendorff's alpha, and ``table2`` computes Table II.
"""
