"""Import pages: upload, choose the columns, preview (a dry run), confirm."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.permissions import Access, requires
from crm.csv_export import CSV_MEDIA_TYPE, csv_response_bytes
from crm.database import writes_on_get
from crm.imports import services
from crm.imports.forms import UploadForm, chosen_mapping, mapping_form
from crm.imports.kinds import KINDS
from crm.imports.reading import ImportFileError, Sheet, read_file, text_value
from crm.models import ImportUpload
from crm.request_body import allows_larger_body

bp = Blueprint("imports", __name__, url_prefix="/import")

# The preview lists this many rows; the counts and the refusals file cover all of them.
PREVIEW_ROWS = 500


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _upload_or_404(upload_id: str) -> ImportUpload:
    upload = services.upload_for(current_user, upload_id)
    if upload is None:
        abort(404)
    return upload


def _sheet(upload: ImportUpload) -> Sheet:
    # The file was read when it was uploaded; it is the same bytes.
    return read_file(upload.content, current_app.config["IMPORT_MAX_ROWS"])


@bp.route("/", methods=["GET", "POST"])
@requires(Access.STAFF)
@allows_larger_body("IMPORT_MAX_BYTES")
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        content = form.file.data.read()
        try:
            read_file(content, current_app.config["IMPORT_MAX_ROWS"])
        except ImportFileError as error:
            form.file.errors.append(str(error))
        else:
            kept = services.store_upload(current_user, KINDS[form.kind.data], form.file.data.filename, content)
            return redirect(url_for(".columns", upload_id=kept.id))
    limit_mb = current_app.config["IMPORT_MAX_BYTES"] / (1024 * 1024)
    return render_template(
        "imports/upload.html", form=form, limit_mb=limit_mb, max_rows=current_app.config["IMPORT_MAX_ROWS"], kinds=KINDS
    ), 422 if form.errors else 200


@bp.route("/<upload_id>/columns", methods=["GET", "POST"])
@requires(Access.STAFF)
def columns(upload_id: str):
    upload = _upload_or_404(upload_id)
    kind = KINDS[upload.kind]
    sheet = _sheet(upload)
    chosen = upload.mapping or services.suggested_mapping(kind, sheet.headings)
    form = mapping_form(kind, sheet.headings, chosen, formdata=request.form if request.method == "POST" else None)
    problems: list[str] = []
    if request.method == "POST" and form.validate():
        mapping = chosen_mapping(form, sheet.headings)
        problems = services.mapping_problems(kind, sheet.headings, mapping)
        if not problems:
            services.set_upload_mapping(upload, sheet.headings, mapping)
            return redirect(url_for(".preview", upload_id=upload.id))
    # What the first rows hold in each column, to recognise it by.
    examples = [
        [text_value(cells[index])[:40] for _, cells in sheet.rows[:3] if not _blank(cells[index])]
        for index in range(len(sheet.headings))
    ]
    status = 422 if (form.errors or problems) else 200
    return render_template(
        "imports/columns.html", upload=upload, kind=kind, sheet=sheet, form=form, problems=problems, examples=examples
    ), status


def _dry_run(upload: ImportUpload) -> services.ImportResult:
    if not upload.mapping:
        abort(redirect(url_for(".columns", upload_id=upload.id)))
    kind = KINDS[upload.kind]
    return services.run(kind, _sheet(upload), upload.mapping, current_user, filename=upload.filename, dry_run=True)


@bp.route("/<upload_id>/preview")
@requires(Access.STAFF)
@writes_on_get  # the dry run stages every row in a transaction, then rolls it back
def preview(upload_id: str):
    upload = _upload_or_404(upload_id)
    try:
        result = _dry_run(upload)
    except services.ImportFailed as error:
        flash(str(error), "error")
        return render_template("imports/preview.html", upload=upload, result=None, shown=[]), 422
    return render_template("imports/preview.html", upload=upload, result=result, shown=result.outcomes[:PREVIEW_ROWS])


@bp.route("/<upload_id>/confirm", methods=["POST"])
@requires(Access.STAFF)
def confirm(upload_id: str):
    upload = _upload_or_404(upload_id)
    if not upload.mapping:
        return redirect(url_for(".columns", upload_id=upload.id))
    kind = KINDS[upload.kind]
    try:
        result = services.run(kind, _sheet(upload), upload.mapping, current_user, filename=upload.filename, dry_run=False)
    except services.ImportFailed as error:
        flash(str(error), "error")
        return redirect(url_for(".preview", upload_id=upload.id))
    return render_template("imports/done.html", upload=upload, result=result)


@bp.route("/<upload_id>/refused.csv")
@requires(Access.STAFF)
@writes_on_get  # the dry run, as the preview
def refused(upload_id: str):
    upload = _upload_or_404(upload_id)
    try:
        result = _dry_run(upload)
    except services.ImportFailed as error:
        flash(str(error), "error")
        return redirect(url_for(".preview", upload_id=upload.id))
    body = csv_response_bytes(services.refusals_header(result), services.refusals_rows(result))
    return Response(
        body,
        mimetype=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="refused-{upload.kind}.csv"'},
    )
