"""The two starter models offered on first start and installed by ``leaddesk demo``.

They transcribe the seeds' tables (DESIGN §3 "Starter models") so that a new desk scores
leads the way the source documents recommend before anyone has tuned anything:

* ActiveCampaign's table (``seeds/activecampaign-lead-scoring.es.txt``): email and web
  engagement, every point expiring after six months (180 days), and +100 for becoming a
  customer, which never expires.
* Encharge's table (``seeds/encharge-lead-scoring-guide.pt.txt``): demographic and
  firmographic fit, email, app, and online behaviour, plus the negative signals the
  guide insists on (unsubscribing, cancelling a meeting, going quiet).
"""

from __future__ import annotations

from leaddesk.domain.conditions import AllOf, AnyOf, Leaf, Not
from leaddesk.domain.scoring import (
    ScoringModel,
    activity_rule,
    inactivity_rule,
    property_rule,
)

__all__ = ["activecampaign_model", "encharge_model", "starter_models"]

SIX_MONTHS = 180
HOT_LEAD_TAG = "Hot lead"

_EMPLOYEE = Leaf("contact.is_employee", "eq", True)
_STUDENT = Leaf("contact.job_title", "contains", "student")

#: What counts as the lead doing something, for the Encharge decay rule. Things *we* did
#: (emails sent, notes, calls) and negative events must not reset a lead's quiet period.
LEAD_ENGAGEMENT_TYPES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "email_reply",
    "page_visit",
    "form_submit",
    "content_download",
    "event_attended",
    "webinar_attended",
    "social_click",
    "meeting_booked",
    "meeting",
    "demo",
    "trial_signup",
    "product_event",
    "purchase",
)


def activecampaign_model() -> ScoringModel:
    """ActiveCampaign's recommended table.

    The threshold is 100 because the article's own use case starts the sales sequence
    "when they pass 100 points"; a customer (+100) is therefore sales-ready at once, and a
    prospect needs a sustained half year of engagement (e.g. both sales pages, a few
    replies and clicks) to get there. Employees are excluded so that internal test
    sends do not fill the sales queue.
    """
    return ScoringModel(
        name="Engagement (ActiveCampaign)",
        active=True,
        sales_ready_at=100,
        floor=0,
        cap=None,
        exclude=_EMPLOYEE,
        threshold_tag=HOT_LEAD_TAG,
        rules=(
            activity_rule("Opened an email", 1, "email_open", expires_after_days=SIX_MONTHS),
            activity_rule(
                "Clicked a link in an email", 5, "email_click", expires_after_days=SIX_MONTHS
            ),
            activity_rule("Replied to an email", 10, "email_reply", expires_after_days=SIX_MONTHS),
            activity_rule(
                "Visited a sales page",
                20,
                "page_visit",
                expires_after_days=SIX_MONTHS,
                when=AnyOf(
                    (Leaf("url", "contains", "/pricing"), Leaf("url", "contains", "/sales"))
                ),
            ),
            activity_rule(
                "Visited a purchase page",
                20,
                "page_visit",
                expires_after_days=SIX_MONTHS,
                when=AnyOf((Leaf("url", "contains", "/checkout"), Leaf("url", "contains", "/buy"))),
            ),
            property_rule("Became a customer", 100, Leaf("contact.is_customer", "eq", True)),
        ),
    )


def _task_created(recurring: bool) -> AllOf:
    flag = Leaf("recurring", "eq", True)
    return AllOf((Leaf("name", "eq", "task_created"), flag if recurring else Not(flag)))


def encharge_model() -> ScoringModel:
    """Encharge's example table, with its negative signals.

    The threshold is 50: the table's best fit (a deciding CEO of a 25+ company, +25) plus
    a trial and a booked call crosses it, while fit alone (28 points at most) never does.
    Its activity points do not expire - Encharge lets a score decay instead,
    which the −5-per-quiet-month rule does. Students and employees are excluded, as the
    guide's "disqualify dead-end leads" advice suggests; customers stay in.
    """
    return ScoringModel(
        name="Fit and engagement (Encharge)",
        active=True,
        sales_ready_at=50,
        floor=0,
        cap=None,
        exclude=AnyOf((_EMPLOYEE, _STUDENT)),
        threshold_tag=HOT_LEAD_TAG,
        rules=(
            # Demographic
            property_rule(
                "Country: US, UK",
                1,
                Leaf(
                    "contact.country",
                    "in",
                    ("United States", "USA", "US", "United Kingdom", "UK", "GB"),
                ),
            ),
            property_rule(
                "City: New York, London",
                1,
                Leaf("contact.city", "in", ("New York", "New York City", "NY", "NYC", "London")),
            ),
            property_rule("Age 25-45", 1, Leaf("contact.age", "between", (25, 45))),
            # Firmographic
            property_rule("CEO or CMO", 5, Leaf("contact.job_title", "in", ("CEO", "CMO"))),
            property_rule("More than 25 employees", 10, Leaf("account.employees", "gt", 25)),
            property_rule(
                "Decision maker", 10, Leaf("contact.buying_role", "eq", "decision_maker")
            ),
            # Email engagement
            activity_rule("Clicked an email", 1, "email_click"),
            activity_rule("Replied to an email", 5, "email_reply"),
            # App activity
            activity_rule("Signed up for a trial", 15, "trial_signup"),
            activity_rule("Created a task", 1, "product_event", when=_task_created(False)),
            activity_rule("Created a recurring task", 2, "product_event", when=_task_created(True)),
            activity_rule(
                "Created a project",
                5,
                "product_event",
                when=Leaf("name", "eq", "project_created"),
            ),
            # Online behaviour
            activity_rule("Booked a call", 20, "meeting_booked"),
            activity_rule(
                "Clicked a LinkedIn post",
                2,
                "social_click",
                when=Leaf("network", "eq", "linkedin"),
            ),
            activity_rule(
                "Clicked a Facebook post",
                1,
                "social_click",
                when=Leaf("network", "eq", "facebook"),
            ),
            # Negative signals
            activity_rule("Unsubscribed", -20, "unsubscribe"),
            activity_rule("Cancelled a meeting", -10, "meeting_cancelled"),
            inactivity_rule(
                "Quiet for 30 days",
                -5,
                30,
                repeat=True,
                activity_types=LEAD_ENGAGEMENT_TYPES,
            ),
        ),
    )


def starter_models() -> list[ScoringModel]:
    """Both starter models; the first becomes the primary model of a new desk."""
    return [activecampaign_model(), encharge_model()]
