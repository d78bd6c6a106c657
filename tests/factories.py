"""Small, readable data sets built through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta

from leaddesk.services import activities, records
from leaddesk.store.database import Database


def build_small_desk(db: Database, now: datetime) -> dict[str, int]:
    ids: dict[str, int] = {}
    acme = records.create_account(
        db,
        {
            "name": "Acme Tools",
            "domain": "acme.example",
            "industry": "Manufacturing",
            "employees": 120,
            "country": "Brazil",
            "city": "São Paulo",
        },
        now,
    )
    globex = records.create_account(
        db,
        {
            "name": "Globex",
            "domain": "globex.example",
            "industry": "Software",
            "employees": 12,
            "country": "Portugal",
            "city": "Lisboa",
        },
        now,
    )
    initech = records.create_account(
        db, {"name": "Initech", "domain": "initech.example", "employees": 40}, now
    )
    ids.update(acme=acme, globex=globex, initech=initech)
    people = [
        ("ana@acme.example", "Ana", "Souza", "CEO", "decision_maker", acme),
        ("bruno@acme.example", "Bruno", "Lima", "Engineer", "user", acme),
        ("carla@globex.example", "Carla", "Mendes", "CMO", "decision_maker", globex),
        ("diego@globex.example", "Diego", "Ramos", "Student intern", "user", globex),
        ("eva@initech.example", "Eva", "Zimmer", "Buyer", "influencer", initech),
    ]
    for email, first, last, title, role, account in people:
        ids[first.lower()] = records.create_contact(
            db,
            {
                "email": email,
                "first_name": first,
                "last_name": last,
                "job_title": title,
                "buying_role": role,
                "account_id": account,
            },
            now,
        )
    topics = [
        ("ana", "Pricing webinar"),
        ("ana", "Trial signup"),
        ("bruno", "Pricing webinar"),
        ("carla", "Ebook: lead scoring"),
        ("diego", "Newsletter"),
        ("eva", "Demo request"),
    ]
    for n, (who, topic) in enumerate(topics):
        ids[f"lead{n}"] = records.create_lead(
            db, contact_id=ids[who], account_id=None, topic=topic, source="web", now=now
        )
    log = [
        ("ana@acme.example", "email_open", 2),
        ("ana@acme.example", "page_visit", 1),
        ("carla@globex.example", "email_click", 5),
        ("eva@initech.example", "email_open", 40),
    ]
    for email, kind, days_ago in log:
        activities.log_activity(
            db,
            email=email,
            type_key=kind,
            occurred_at=now - timedelta(days=days_ago),
            now=now,
            properties={"url": "https://acme.example/pricing"} if kind == "page_visit" else {},
        )
    return ids
