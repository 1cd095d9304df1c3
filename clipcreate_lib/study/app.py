"""The survey as a Flask app: consent, instructions, one page at a time, the completion code, and an
admin export behind a token. Templates (templates/*.html) are autoescaped, so no text a rater sends
or a study file holds can become markup.

Routes: ``/`` (consent; the platform's URL parameters ride along), ``POST /consent``,
``/instructions?rater=…``, ``/rate?rater=…`` (the rater's next page, or the completion page),
``POST /answer``, ``/images/<id>.png`` and ``/admin/<answers|checks|raters>.csv``. A rater who has not
agreed is sent to the consent page from every page. A bad request gets a 4xx page naming what is
wrong; nothing a client sends reaches a 5xx.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from clipcreate_lib.study.pages import RATER, RATER_RULE, InvalidAnswer, Study, validate
from clipcreate_lib.study.questions import ANSWERS, CHECK_KEY
from clipcreate_lib.study.store import TABLES, AnswerStore

MAX_FORM_BYTES = 4096  # a page's form is some 100 bytes
PLATFORM_VALUE = 128  # characters kept of each platform parameter
HEADERS = {
    "Cache-Control": "no-store",  # the back button asks again, so it shows the next unanswered page
    "Referrer-Policy": "no-referrer",  # links out (the completion URL) do not carry the rater's id
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
}

survey = Blueprint("survey", __name__)


def create_app(study: Study, store: AnswerStore, admin_token: str) -> Flask:
    """The survey of ``study``, storing into ``store``; ``admin_token`` opens /admin/*.csv."""
    app = Flask(__name__)
    app.config.update(STUDY=study, STORE=store, ADMIN_TOKEN=admin_token, MAX_CONTENT_LENGTH=MAX_FORM_BYTES)
    app.register_blueprint(survey)
    app.register_error_handler(HTTPException, _error_page)
    app.after_request(_headers)
    return app


@survey.get("/")
def consent() -> str:
    return _consent_page(request.args)


@survey.post("/consent")
def agree() -> Response:
    """Record the rater's consent and send them to the instructions. The participant id is the
    platform's (its first URL parameter), or a random one the server assigns: never typed."""
    study = current_app.config["STUDY"]
    if request.form.get("consent") != "yes":
        return _consent_page(request.form, "Please tick the box to agree before you continue."), 400
    platform = {name: request.form.get(name, "").strip()[:PLATFORM_VALUE] for name in study.parameters}
    participant = platform[study.parameters[0]]
    if participant and not RATER.fullmatch(participant):
        return _message(400, "Invalid study link", f"The link's {study.parameters[0]} is not valid. {RATER_RULE}")
    rater = participant or secrets.token_hex(8)
    current_app.config["STORE"].consent(study.kit, rater, not participant, {k: v for k, v in platform.items() if v})
    return redirect(url_for("survey.instructions", rater=rater), 303)


@survey.get("/instructions")
def instructions() -> str:
    study, rater = current_app.config["STUDY"], _consented_rater()
    pages = len(study.pages(rater))
    return render_template(
        "instructions.html", title="Instructions", instructions=study.instructions, pages=pages, rater=rater
    )


@survey.get("/rate")
def rate() -> str:
    """The rater's first unanswered page in their own order, or the completion page when none is left."""
    study, rater = current_app.config["STUDY"], _consented_rater()
    done = current_app.config["STORE"].answered(study.kit, rater)
    todo = [page for page in study.pages(rater) if page not in done]
    if todo:
        return _rating_page(rater, todo[0])
    code, url = study.completion_code, study.completion_url
    return render_template("done.html", title="Thank you", pages=len(done), code=code, url=url)


@survey.post("/answer")
def answer() -> Response:
    """Store a page (committed before the redirect is sent) and send the rater to their next one."""
    study, store, rater = current_app.config["STUDY"], current_app.config["STORE"], _consented_rater()
    try:
        _, page, answers = validate(study, request.form)
    except InvalidAnswer as error:
        page = request.form.get("image", "").strip()
        if study.questions(page):
            return _rating_page(rater, page, str(error)), 400
        return _message(400, "Not part of this study", str(error))
    if page in study.files:
        store.record(study.kit, rater, page, answers)
    else:
        store.record_check(study.kit, rater, page, study.check(page).instructed, answers[CHECK_KEY])
    return redirect(url_for("survey.rate", rater=rater), 303)


@survey.get("/images/<image>.png")
def image(image: str) -> Response:
    """A kit image, looked up by id (never a path joined from the request)."""
    file = current_app.config["STUDY"].files.get(image)
    if file is None:
        abort(404, "No such image.")
    return send_file(file, mimetype="image/png", max_age=0)


@survey.get("/admin/<table>.csv")
def export(table: str) -> Response:
    """A table of the store as CSV, for ``Authorization: Bearer <token>`` (or ``?token=``) only."""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or request.args.get("token", "")
    if not hmac.compare_digest(given.encode(), current_app.config["ADMIN_TOKEN"].encode()):
        abort(403, "The admin token is missing or wrong.")
    if table not in TABLES:
        abort(404, f"No table '{table}'; there are {', '.join(TABLES)}.")
    csv = current_app.config["STORE"].table(table).to_csv(index=False)
    return Response(csv, mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={table}.csv"})


def _consented_rater() -> str:
    """The request's rater, who has agreed; else the request ends: 400 for an id that is not one, and
    a redirect to the consent page for a rater who has not agreed (nothing is shown or stored)."""
    rater = (request.values.get("rater") or "").strip()
    if not RATER.fullmatch(rater):
        abort(_message(400, "Invalid link", RATER_RULE))
    if not current_app.config["STORE"].consented(current_app.config["STUDY"].kit, rater):
        abort(redirect(url_for("survey.consent"), 303))
    return rater


def _consent_page(values, error: str = "") -> str:
    study = current_app.config["STUDY"]
    platform = {name: values.get(name, "")[:PLATFORM_VALUE] for name in study.parameters if values.get(name)}
    return render_template("consent.html", title="Image study", consent=study.consent, platform=platform, error=error)


def _rating_page(rater: str, page: str, error: str = "") -> str:
    """``page`` with its questions, where it falls in this rater's pages; a refused form's answers are
    shown again."""
    study = current_app.config["STUDY"]
    pages = study.pages(rater)
    position = pages.index(page) + 1
    asked = [{"key": q.key, "text": q.text, "options": list(zip(ANSWERS, q.scale))} for q in study.questions(page)]
    form = request.form if error else {}
    return render_template(
        "rate.html",
        title=f"Page {position} of {len(pages)}",
        progress=(position - 1, len(pages)),
        image=page in study.files,
        page=page,
        rater=rater,
        questions=asked,
        form=form,
        error=error,
    )


def _message(status: int, title: str, message: str) -> Response:
    return Response(render_template("message.html", title=title, message=message), status, mimetype="text/html")


def _error_page(error: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, a form that cannot be parsed) as a short page of the study's."""
    response = _message(error.code or 500, error.name, error.description or "")
    if error.code == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or [])
    return response


def _headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response
