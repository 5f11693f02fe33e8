"""The routing pages: rules, topics, the fallback contact and the "test routing" simulator."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from crm import audit, confirmation
from crm.auth.permissions import Access, requires
from crm.database import utcnow
from crm.extensions import db
from crm.languages import language_name
from crm.models import Contact, RoutingRule, Topic
from crm.organisation_menu import organisation_choices
from crm.records import get_or_404
from crm.routing import editing, services
from crm.routing.forms import FallbackForm, RoutingTestForm, RuleForm, TopicForm

bp = Blueprint("routing", __name__, url_prefix="/routing")

TARGET_GONE = "That choice is no longer available; pick another."
FALLBACK_CHANGED = "Someone else chose a fallback contact at the same moment. Check the choice and save again."
TOPIC_NAME_TAKEN = "Another topic already uses this name."


def _fallback_form(fallback: Contact | None) -> FallbackForm:
    form = FallbackForm()
    form.contact_id.choices = [SelectChoice("", "Choose a contact")] + [
        SelectChoice(id_, label) for id_, label in editing.contact_choices()
    ]
    if request.method == "GET" and fallback is not None and fallback.active:
        form.contact_id.data = fallback.id
    return form


def _rules_page(fallback: Contact | None, fallback_form: FallbackForm, status: int = 200):
    return (
        render_template(
            "routing/rules.html",
            rules=services.rules_in_order(),
            fallback=fallback,
            fallback_form=fallback_form,
            language_name=language_name,
        ),
        status,
    )


def _rule_form(rule: RoutingRule | None, **kwargs) -> RuleForm:
    form = RuleForm(**kwargs)
    form.topics.choices = [SelectChoice(id_, label) for id_, label in editing.topic_choices()]
    form.regions.choices = [SelectChoice(id_, label) for id_, label in editing.region_choices()]
    form.counties.choices = [SelectChoice(fips, label) for fips, label in editing.county_choices()]
    form.target_contact_id.choices = [SelectChoice("", "No single contact")] + [
        SelectChoice(id_, label) for id_, label in editing.contact_choices(rule.target_contact_id if rule else None)
    ]
    form.target_organisation_id.choices = [SelectChoice("", "No organisation")] + [
        SelectChoice(id_, label)
        for id_, label in organisation_choices(rule.target_organisation_id if rule else None)
    ]
    return form


def _rule_form_page(form: RuleForm, rule: RoutingRule | None):
    history = audit.history_for("RoutingRule", rule.id) if rule is not None else []
    return render_template("routing/rule_form.html", form=form, rule=rule, history=history), 422 if form.errors else 200


def _topic_form_page(form: TopicForm, topic: Topic | None):
    history = audit.history_for("Topic", topic.id) if topic is not None else []
    return render_template("routing/topic_form.html", form=form, topic=topic, history=history), 422 if form.errors else 200


@bp.route("/rules")
@requires(Access.MANAGER)
def rules():
    fallback = services.current_fallback()
    return _rules_page(fallback, _fallback_form(fallback))


@bp.route("/rules/fallback", methods=["POST"])
@requires(Access.MANAGER)
def set_fallback():
    fallback = services.current_fallback()
    form = _fallback_form(fallback)
    if form.validate_on_submit():
        contact = db.session.get(Contact, form.contact_id.data)
        try:
            editing.set_fallback(contact, current_user)
        except editing.UnknownTarget:
            form.contact_id.errors.append(TARGET_GONE)
        except editing.FallbackChangedMeanwhile:
            form.contact_id.errors.append(FALLBACK_CHANGED)
        else:
            flash(f"{contact.name} now takes the inquiries no rule can place.", "success")
            return redirect(url_for(".rules"))
    return _rules_page(fallback, form, 422)


@bp.route("/rules/new", methods=["GET", "POST"])
@requires(Access.MANAGER)
def new_rule():
    form = _rule_form(None)
    if form.validate_on_submit():
        try:
            rule = editing.save_rule(RoutingRule(), form.data, current_user)
        except editing.UnknownTarget:
            form.target_contact_id.errors.append(TARGET_GONE)
        else:
            flash(f"Rule “{rule.name}” was added.", "success")
            return redirect(url_for(".rules"))
    return _rule_form_page(form, None)


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@requires(Access.MANAGER)
def edit_rule(rule_id: int):
    rule = get_or_404(RoutingRule, rule_id)
    form = _rule_form(rule, obj=rule)
    if request.method == "GET":
        form.topics.data = [topic.id for topic in rule.topics]
        form.regions.data = [region.id for region in rule.regions]
        form.counties.data = [county.fips for county in rule.counties]
        form.languages.data = list(rule.languages or [])
    if form.validate_on_submit():
        try:
            editing.save_rule(rule, form.data, current_user)
        except editing.UnknownTarget:
            form.target_contact_id.errors.append(TARGET_GONE)
        else:
            flash(f"Rule “{rule.name}” was saved.", "success")
            return redirect(url_for(".rules"))
    return _rule_form_page(form, rule)


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@requires(Access.MANAGER)
def toggle_rule(rule_id: int):
    rule = get_or_404(RoutingRule, rule_id)
    editing.set_rule_active(rule, not rule.active, current_user)
    flash(f"Rule “{rule.name}” is now {'on' if rule.active else 'off'}.", "success")
    return redirect(url_for(".rules"))


@bp.route("/rules/<int:rule_id>/delete", methods=["GET", "POST"])
@requires(Access.MANAGER)
def delete_rule(rule_id: int):
    """The link asks first; the POST from that page deletes."""
    rule = get_or_404(RoutingRule, rule_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            question=f"Delete the rule “{rule.name}”?",
            explanation=[
                "New inquiries will be placed by the other rules, or go to the fallback contact.",
                "Inquiries it routed already stay with whoever has them. To stop the rule for a while "
                "instead, turn it off.",
            ],
            action=url_for(".delete_rule", rule_id=rule.id),
            button="Delete the rule",
            cancel_url=url_for(".rules"),
        )
    name = rule.name
    editing.delete_rule(rule, current_user)
    flash(f"Rule “{name}” was deleted.", "success")
    return redirect(url_for(".rules"))


@bp.route("/topics")
@requires(Access.MANAGER)
def topics():
    return render_template("routing/topics.html", topics=editing.all_topics())


@bp.route("/topics/new", methods=["GET", "POST"])
@requires(Access.MANAGER)
def new_topic():
    form = TopicForm()
    if form.validate_on_submit():
        try:
            topic = editing.save_topic(Topic(), form.data, current_user)
        except editing.DuplicateTopic:
            form.name_en.errors.append(TOPIC_NAME_TAKEN)
        else:
            flash(f"Topic “{topic.name_en}” was added.", "success")
            return redirect(url_for(".topics"))
    return _topic_form_page(form, None)


@bp.route("/topics/<int:topic_id>/edit", methods=["GET", "POST"])
@requires(Access.MANAGER)
def edit_topic(topic_id: int):
    topic = get_or_404(Topic, topic_id)
    form = TopicForm(obj=topic)
    if form.validate_on_submit():
        try:
            editing.save_topic(topic, form.data, current_user)
        except editing.DuplicateTopic:
            form.name_en.errors.append(TOPIC_NAME_TAKEN)
        else:
            flash(f"Topic “{topic.name_en}” was saved.", "success")
            return redirect(url_for(".topics"))
    return _topic_form_page(form, topic)


@bp.route("/test")
@requires(Access.MANAGER)
def test():
    """Where an inquiry would go right now. Reads only: nothing is assigned or saved."""
    form = RoutingTestForm(request.args)
    form.topic.choices = [SelectChoice("", "No topic")] + [
        SelectChoice(id_, label) for id_, label in editing.topic_choices()
    ]
    asked = "zip" in request.args
    outcome = answer = None
    problem = None
    if asked and form.validate():
        topic = db.session.get(Topic, form.topic.data) if form.topic.data is not None else None
        try:
            outcome = services.decide(form.zip.data, topic, form.language.data, utcnow())
        except services.NoFallbackContact as error:
            problem = str(error)
        else:
            answer = services.describe(outcome)
    status = 422 if asked and form.errors else 200
    return (
        render_template("routing/test.html", form=form, outcome=outcome, answer=answer, problem=problem),
        status,
    )
