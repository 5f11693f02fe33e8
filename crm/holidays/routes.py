"""The holiday pages: managers keep the foundation calendar and the organisations' own."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from crm import confirmation
from crm.auth.permissions import Access, requires
from crm.database import utcnow
from crm.holidays import calendars, services
from crm.holidays.forms import AddHolidaysForm, CalendarForm, HolidayForm, NewCalendarForm
from crm.models import Holiday, HolidayCalendar
from crm.records import get_or_404

bp = Blueprint("holidays", __name__, url_prefix="/holidays")


def _new_calendar_form() -> NewCalendarForm:
    form = NewCalendarForm()
    form.organisation_id.choices = [SelectChoice("", "Choose an organisation")] + [
        SelectChoice(id_, name) for id_, name in services.organisations_without_calendar()
    ]
    return form


def _index_page(form: NewCalendarForm, status: int = 200):
    return render_template("holidays/index.html", calendars=services.all_calendars(), form=form), status


def _calendar_page(calendar: HolidayCalendar, form: AddHolidaysForm, status: int = 200):
    this_year = utcnow().year
    earlier = request.args.get("earlier") == "1"
    shown = [holiday for holiday in calendar.holidays if earlier or holiday.day.year >= this_year]
    hidden = len(calendar.holidays) - len(shown)
    return (
        render_template(
            "holidays/calendar.html", calendar=calendar, holidays=shown, hidden=hidden, earlier=earlier, form=form
        ),
        status,
    )


@bp.route("/")
@requires(Access.MANAGER)
def index():
    return _index_page(_new_calendar_form())


@bp.route("/calendars", methods=["POST"])
@requires(Access.MANAGER)
def new_calendar():
    form = _new_calendar_form()
    if form.validate_on_submit():
        try:
            calendar = services.create_calendar(form.organisation_id.data, form.name.data, current_user)
        except services.CalendarRefused as refused:
            form.organisation_id.errors.append(str(refused))
        else:
            flash(f"Calendar “{calendar.name}” was added: add the days the organisation is closed.", "success")
            return redirect(url_for(".calendar", calendar_id=calendar.id))
    return _index_page(form, 422)


@bp.route("/calendars/<int:calendar_id>")
@requires(Access.MANAGER)
def calendar(calendar_id: int):
    return _calendar_page(get_or_404(HolidayCalendar, calendar_id), AddHolidaysForm(formdata=None))


@bp.route("/calendars/<int:calendar_id>/holidays", methods=["POST"])
@requires(Access.MANAGER)
def add_holidays(calendar_id: int):
    calendar = get_or_404(HolidayCalendar, calendar_id)
    form = AddHolidaysForm()
    if form.validate_on_submit():
        try:
            days = calendars.days_to_close(form.first_day.data, form.last_day.data)
        except calendars.BadRange as bad:
            form.last_day.errors.append(str(bad))
        else:
            if not days:
                form.last_day.errors.append("Those days are all weekend days, which the clock never counts.")
            else:
                result = services.add_holidays(calendar, days, form.name.data, current_user)
                flash(_added_message(result), "success")
                return redirect(url_for(".calendar", calendar_id=calendar.id))
    return _calendar_page(calendar, form, 422)


def _added_message(result: services.Added) -> str:
    added = len(result.added)
    message = f"{added} day{'' if added == 1 else 's'} closed."
    if result.already_closed:
        days = ", ".join(day.isoformat() for day in result.already_closed)
        message += f" Already closed, left as they were: {days}."
    return message


@bp.route("/calendars/<int:calendar_id>/edit", methods=["GET", "POST"])
@requires(Access.MANAGER)
def edit_calendar(calendar_id: int):
    calendar = get_or_404(HolidayCalendar, calendar_id)
    form = CalendarForm(obj=calendar)
    if form.validate_on_submit():
        services.rename_calendar(calendar, form.name.data, current_user)
        flash(f"Calendar “{calendar.name}” was saved.", "success")
        return redirect(url_for(".calendar", calendar_id=calendar.id))
    return render_template("holidays/calendar_form.html", form=form, calendar=calendar), 422 if form.errors else 200


@bp.route("/calendars/<int:calendar_id>/delete", methods=["GET", "POST"])
@requires(Access.MANAGER)
def delete_calendar(calendar_id: int):
    """The link asks first; the POST from that page deletes."""
    calendar = get_or_404(HolidayCalendar, calendar_id)
    if calendar.is_foundation:
        flash("The foundation calendar cannot be deleted; remove its holidays one by one instead.", "error")
        return redirect(url_for(".calendar", calendar_id=calendar.id)), 303
    if not confirmation.confirmed():
        return confirmation.ask(
            question=f"Delete the calendar “{calendar.name}”?",
            explanation=[
                f"Its {len(calendar.holidays)} holiday(s) go with it; the organisation then follows the "
                "foundation calendar alone.",
                "The deadlines of its open inquiries are worked out again.",
            ],
            action=url_for(".delete_calendar", calendar_id=calendar.id),
            button="Delete the calendar",
            cancel_url=url_for(".calendar", calendar_id=calendar.id),
        )
    name = calendar.name
    services.delete_calendar(calendar, current_user)
    flash(f"Calendar “{name}” was deleted.", "success")
    return redirect(url_for(".index"))


@bp.route("/<int:holiday_id>/edit", methods=["GET", "POST"])
@requires(Access.MANAGER)
def edit_holiday(holiday_id: int):
    holiday = get_or_404(Holiday, holiday_id)
    form = HolidayForm(obj=holiday)
    if form.validate_on_submit():
        try:
            services.update_holiday(holiday, form.day.data, form.name.data, current_user)
        except services.CalendarRefused as refused:
            form.day.errors.append(str(refused))
        else:
            flash(f"“{holiday.name}” was saved.", "success")
            return redirect(url_for(".calendar", calendar_id=holiday.calendar_id))
    return render_template("holidays/holiday_form.html", form=form, holiday=holiday), 422 if form.errors else 200


@bp.route("/<int:holiday_id>/delete", methods=["GET", "POST"])
@requires(Access.MANAGER)
def delete_holiday(holiday_id: int):
    holiday = get_or_404(Holiday, holiday_id)
    calendar_id = holiday.calendar_id
    if not confirmation.confirmed():
        return confirmation.ask(
            question=f"Remove “{holiday.name}” on {holiday.day.isoformat()}?",
            explanation=["The response clock will count that day again, and open inquiries' deadlines are worked out again."],
            action=url_for(".delete_holiday", holiday_id=holiday.id),
            button="Remove the holiday",
            cancel_url=url_for(".calendar", calendar_id=calendar_id),
        )
    label = str(holiday)
    services.delete_holiday(holiday, current_user)
    flash(f"{label} was removed.", "success")
    return redirect(url_for(".calendar", calendar_id=calendar_id))
