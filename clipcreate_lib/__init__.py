"""clipcreate: the library behind the notebooks of "Style Ambiguity Loss Using CLIP".

The library is split into wings by stage. Imports point one way: the shared bottom, then each stage
in order, then the notebooks; no stage imports a later one (``tests/test_layout.py`` checks it).

| wing          | what it holds                                                     | notebook             | paper     |
|---------------|-------------------------------------------------------------------|----------------------|-----------|
| ``data``      | WikiArt, the embedded stand-in, captions, the mediums selection   | ``01_data``          | §III-C    |
| ``models``    | hub loaders, random builds, CLIP preprocessing, the miniature     | ``01``–``05``        | §III-A    |
| ``styles``    | text labels, k-means centroids, the CAN, classifiers, the reward  | ``02``, ``03``       | §III-B, D |
| ``ddpo``      | the DDIM policy, PPO, the trainer, trained weights, the six runs  | ``04_ddpo``          | §III-A, B |
| ``evaluation``| the fixed image protocol, AVA / ImageReward / proxies, Table I    | ``05_evaluation``    | §IV-A     |
| ``study``     | the rater kit, the survey app, the answers, Table II              | ``06_user_study``    | §IV-B     |
| ``tokens``    | textual inversion, a re-learned word, the guidance-scale sweep    | ``09_style_tokens``  | seed 003  |

Shared by all, at the bottom: ``paths`` (every file location), ``config`` (the typed settings),
``artifacts`` (atomic writes and provenance), ``stats`` (confidence intervals), ``schedules``
(learning-rate warm-up), ``tables`` (CSV / Markdown / LaTeX tables) and ``figures`` (the plots, by stage).
docs/design.md tells the layout's reasons; docs/method.md the method.
"""
