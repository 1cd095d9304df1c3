# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · User study: the kit, the survey and Table II
#
# The study of §IV-B (docs/method.md): five images per model, made with the same prompts and seeds for
# every model, each rated on five 1–5 scales (Appreciation, Novelty, Surprise, Ambiguity, Complexity)
# with the paper's wording. The paper collected its ratings through an external form and its raw
# answers are not public, so this notebook makes the study something anyone can run again:
#
# 1. **The kit** (`data/<profile>/user_study/kit/`): the chosen evaluation images of notebook 05, byte for byte,
#    in one shuffled order under random ids, and the questions. It names no model. The key from id to
#    model is written apart, to `data/<profile>/user_study/key/key.csv`.
# 2. **The survey** (`clipcreate_lib.study.survey`): a Flask app behind waitress that asks for consent,
#    takes the participant id from the recruitment platform's link (Prolific's `PROLIFIC_PID`) or
#    assigns one, serves the kit one page at a time in an order of each rater's own with attention
#    checks among the images, stores every answer and its time in SQLite, and ends with the completion
#    code. Start it with `.venv/bin/python -m clipcreate_lib.study.survey serve --profile <profile>`
#    (http://127.0.0.1:8765/); docs/user-study.md says how to put it online and set up Prolific.
# 3. **Table II**: mean answer per model and question, with 95% intervals over raters (clustered t, and a
#    rater bootstrap) and the numbers of answers and raters, from the response CSVs in
#    `data/<profile>/user_study/responses/`, leaving out raters who failed the attention checks; and
#    Krippendorff's alpha per question. When the survey has answers, this notebook exports them there
#    first (`survey.csv`, and the checks to `attention/survey.csv`).
#
# With no human answers yet, the table is computed from a **synthetic example file** of simulated
# raters who answer at random. It shows the method and the file format; it says nothing about the
# models, and the table's caption says so.
#
# **Needs:** notebook 05's evaluation images; answers in `data/<profile>/user_study/survey.sqlite`
# or `data/<profile>/user_study/responses/*.csv`, if any. **Writes:**
# `data/<profile>/user_study/kit/`, `data/<profile>/user_study/key/key.csv`,
# `data/<profile>/user_study/responses/survey.csv` (the survey's answers) or a synthetic example
# there, `data/<profile>/user_study/attention/survey.csv` (its attention checks),
# `figures/<profile>/table2.{md,csv,tex}`, `figures/<profile>/table2_agreement.{md,csv,tex}` and
# `figures/<profile>/table2.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"user_study": {"confidence": 0.9}}

# %%
import pandas as pd
from PIL import Image

from clipcreate_lib import artifacts, config, figures, paths, session, tables
from clipcreate_lib.figures import result_plots
from clipcreate_lib.paths import study_files
from clipcreate_lib.study import agreement, kit, questions, responses, survey, table2

cfg = session.start(profile, overrides)
print(config.describe(cfg, "user_study"))
settings = cfg.user_study
print(
    f"profile {cfg.profile}: {len(settings.models)} models x {len(settings.image_indices)} images "
    f"(evaluation images {settings.image_indices})"
)

# %% [markdown]
# ## The kit
#
# Rebuilt only when the images or settings change; while the survey database holds answers to the
# current kit it is never replaced (the answers would then point at other images).

# %%
key = kit.build_kit(
    settings,
    {m: paths.eval_dir(m) for m in settings.models},
    study_files.study_kit_dir(),
    study_files.study_key_file(),
    answers_file=study_files.survey_db(),
)
kit_dir, key_file = study_files.study_kit_dir(), study_files.study_key_file()
print(f"kit {key['kit'].iloc[0]}: {len(key)} images -> {kit_dir}; key -> {key_file}")
for number, q in enumerate(questions.QUESTIONS, 1):
    print(f"{number}. {q.text}: " + ", ".join(f"{a}-{label}" for a, label in zip(questions.ANSWERS, q.scale)))

# %% [markdown]
# What raters see (no model names), in the kit's order; the survey shows each rater their own shuffle
# of it, seeded by the kit and their participant id, so an image's place in the sequence (first seen,
# or seen after many others) does not favour one model for everyone:

# %%
kit_images = [Image.open(study_files.study_kit_dir() / "images" / f"{image}.png") for image in key["image"]]
result_plots.kit_grid(kit_images, list(key["image"]), cfg.profile)

# %% [markdown]
# ## Responses
#
# Every CSV in `data/<profile>/user_study/responses/` with the columns kit, rater, image, question, answer,
# submitted_at counts; files whose name starts with `synthetic` are used only when no other exists.

# %%
if kit.holds_answers(study_files.survey_db()):  # a server started once leaves an empty database
    exported = survey.export(
        survey.AnswerStore(study_files.survey_db()),
        study_files.responses_dir() / "survey.csv",
        study_files.attention_dir() / "survey.csv",
    )
    print("survey answers exported -> " + ", ".join(map(str, exported)))
files, synthetic = responses.response_files(study_files.responses_dir())
if synthetic:  # no human answers: the example holds no data, so it is remade for the current kit
    example = responses.synthetic_responses(key, settings.synthetic_raters, settings.seed)
    example_file = artifacts.save_csv(
        study_files.responses_dir() / f"{responses.SYNTHETIC_PREFIX}_example.csv", example
    )
    files, synthetic = responses.response_files(study_files.responses_dir())
    print(
        f"no human responses: wrote a synthetic example ({settings.synthetic_raters} simulated raters "
        f"answering at random) -> {example_file}"
    )
answers = responses.read_responses(files)
print(
    f"{len(answers)} answers from {answers['rater'].nunique()} raters in {', '.join(f.name for f in files)}"
    + (" (SYNTHETIC, not human data)" if synthetic else "")
)

# %% [markdown]
# Raters who failed more attention checks than `user_study.max_failed_checks` (0: any) are left out of
# Table II; the checks are read from `data/<profile>/user_study/attention/` (the survey's export).

# %%
checks = responses.read_checks(sorted(study_files.attention_dir().glob("*.csv")))
checks = checks[checks["kit"] == key["kit"].iloc[0]]  # checks of an earlier kit say nothing of this one
excluded = responses.excluded_raters(checks, settings.max_failed_checks)
answers = answers[~answers["rater"].isin(excluded)]
raters = answers["rater"].nunique()
print(
    f"attention checks: {len(checks)} answers from {checks['rater'].nunique()} raters; {len(excluded)} raters "
    f"excluded (more than {settings.max_failed_checks} failed); {raters} raters kept"
)

# %% [markdown]
# ## Table II
#
# Mean answer per model and question, its interval, and the answers and raters behind it. Each answer
# counts once in the mean, as in the paper's means. The interval counts raters, not answers: a rater's
# answers share their leniency, so answers taken as independent draws would give too narrow an
# interval. It is the cluster-robust interval of the mean with raters as clusters (Student t on
# raters - 1 degrees of freedom), the t interval of the raters' own means when all answered alike.
# Beside it ("boot"), a percentile bootstrap that resamples raters with all their answers
# (scipy.stats.bootstrap), which assumes no t distribution. Then, per question, how far raters agree
# with each other: Krippendorff's alpha with the ordinal distance (1 perfect, 0 chance).

# %%
source = (
    f"SYNTHETIC example responses ({raters} simulated raters answering at random): NOT human data, "
    f"the numbers show the method only"
    if synthetic
    else f"{raters} raters"
)
source += (
    f"; {len(excluded)} raters excluded for failing more than {settings.max_failed_checks} of "
    f"{len(settings.attention_answers)} attention checks"
)
caption = (
    f"Table II. Mean answer (1-5) per model and question [{settings.confidence:.0%} CI over raters, "
    f"clustered t; boot: rater bootstrap], n answers and raters per cell; {len(settings.image_indices)} images "
    f"per model, same seeds across models; {source}. Paper: its Table II. {figures.profile_note(cfg.profile)}."
)
numbers = table2.table2(answers, key, settings.models, settings.confidence, settings.bootstrap_resamples, settings.seed)
shown = table2.table2_display(numbers)
outputs = tables.write(numbers, shown, study_files.table2_stem(), caption, "tab:table2")
fig = result_plots.table2(
    numbers,
    table2.PAPER_TABLE2,
    [(q.key, q.name) for q in questions.QUESTIONS],
    f"Table II{' (SYNTHETIC responses, not human data)' if synthetic else ''}: ours with "
    f"{settings.confidence:.0%} CI, paper as open circles\n{figures.profile_note(cfg.profile)}",
)
outputs.append(artifacts.save_figure(study_files.table2_plot(), fig, dpi=150))
shares = table2.answer_shares(answers, key, settings.models)
fig = result_plots.answer_distributions(
    shares,
    [(q.key, q.name) for q in questions.QUESTIONS],
    f"Table II's answers, share of each answer per model{' (SYNTHETIC responses)' if synthetic else ''}\n"
    f"{figures.profile_note(cfg.profile)}",
)
outputs.append(artifacts.save_figure(study_files.table2_answers_plot(), fig, dpi=150))
print(caption, *outputs, sep="\n")
shown

# %%
alphas = agreement.agreement(answers)
agreement_caption = (
    f"Table II, agreement: Krippendorff's alpha (ordinal) per question over the kit's images; {source}. "
    f"{figures.profile_note(cfg.profile)}."
)
agreement_shown = alphas.assign(alpha=[tables.MISSING if pd.isna(a) else f"{a:.3f}" for a in alphas["alpha"]])
outputs = tables.write(
    alphas, agreement_shown, study_files.table2_agreement_stem(), agreement_caption, "tab:table2-agreement"
)
print(agreement_caption, *outputs, sep="\n")
agreement_shown
