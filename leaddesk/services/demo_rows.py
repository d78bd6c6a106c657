"""Demo rows: a desk that looks like six months of a real B2B marketing operation.

Why the data has this shape:

- **Accounts** are mostly small (employees log-distributed from 1 to 50,000, median a few
  dozen) because that is what a small sales team's market looks like; a few large ones
  let scoring rules on ``account.employees`` and ``annual_revenue`` (correlated with size
  and industry) show a difference. Country, state and city always agree, and names,
  phones and e-mail addresses follow the country (Brazil, Portugal, Spain, US, UK,
  Germany, France). Domains end in ``.example.com``/``.net``/``.org`` (reserved by RFC
  2606), so no real company is ever e-mailed from a demo desk.
- **Contacts**: 1–20 per account (skewed, larger companies have more), about 7 % without
  an account (personal addresses: students, freelancers, the unemployed — the profiles
  scoring models push down), a few employees of the desk itself (``@leaddesk.example``,
  what an "exclude our own people" rule catches) and a few customers.
- **Leads**: one per contact mostly, two or three on different topics for some (a contact
  never has two leads on the same topic), about 2 % account-only (account-based
  campaigns, partner referrals). Created over the last six months with a slight growth
  towards ``now``. Every lead stays in the ``inquiry`` stage: the process engine, not the
  demo, moves leads, so the funnel the user sees is the one their rules produce.
- **Activities**, about ten per lead on average but heavy-tailed: each contact gets an
  engagement level drawn from a log-normal distribution, so many contacts only receive
  e-mails while a few open, click, visit and download a lot — the spread that makes a
  score worth sorting by. Volumes fall in the order a marketer expects: sent > opened >
  identified page visits > clicked (10–20 % of opens) > forms/downloads > replies >
  webinars/events > meetings/calls/demos/trials > purchases, and the negative signals
  (unsubscribe, bounce, cancelled meeting) are rare but present. Page visits outnumber
  clicks because every landing-page lead brings the visit before its form. Each lead's
  creating activity (the form, the download, the badge scan, the trial signup) carries its
  ``lead_id``; replies, product usage and sales activities do too, the rest has none.
  Nothing is dated after ``now`` or before the contact's first lead minus two days.

This module only makes rows, and imports nothing heavier than the standard library (the
storage encodings come from ``store.sqlite_values``, itself standard library only): a big
demo runs it in a child process (``python -m leaddesk.services.demo_rows``) while
``services.demo`` writes the previous batch on the parent's connection, so the two cores
share the work. Rows are tuples with JSON and datetimes pre-encoded in exactly the text
SQLAlchemy's own types would store (SQLite), or Python values for other databases.
Primary keys are assigned here, after the maximum the desk already has, so a second run
adds to a desk instead of clashing with it. The same seed on an equal desk gives the same
rows, in the child or not.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import queue
import random
import sys
import threading
import traceback
import unicodedata
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, BinaryIO

from leaddesk.domain.search_text import lead_labels
from leaddesk.store.sqlite_values import sqlite_datetime, sqlite_json

DESK_DOMAIN = "leaddesk.example"
WINDOW = timedelta(days=182)
"""How far back the demo reaches: six months before ``now``."""

ACTIVITY_BATCH = 20_000
LEAD_BATCH = 1_000
"""Rows per batch: large enough that executemany dominates, small enough that progress
moves (a batch also ends every twentieth of the requested leads) and memory stays flat."""

Row = tuple[Any, ...]
Batch = tuple[list[Row], ...]
"""One list of rows per table of ``TABLES``, in that order."""
Emit = Callable[[Batch, int], None]
"""Takes a batch and the number of leads made so far."""


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    contacts: int
    leads: int
    activities: int
    users: int


@dataclass(frozen=True)
class DeskStart:
    """What the desk holds that new rows must not clash with."""

    emails: frozenset[str]
    domains: frozenset[str]
    user_names: frozenset[str]
    account_id: int
    contact_id: int
    lead_id: int
    activity_id: int
    user_id: int


@dataclass(frozen=True)
class Request:
    """Everything a child process needs to make the same rows as the parent would."""

    start: DeskStart
    seed: int
    now: datetime
    raw: bool
    total: int
    with_activities: bool


# --- reference lists ------------------------------------------------------------------------

# (state, city, area code) per country; the area code makes phone numbers agree with cities.
CITIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "Brazil": (
        ("São Paulo", "São Paulo", "11"),
        ("São Paulo", "Campinas", "19"),
        ("São Paulo", "Santos", "13"),
        ("Rio de Janeiro", "Rio de Janeiro", "21"),
        ("Rio de Janeiro", "Niterói", "21"),
        ("Minas Gerais", "Belo Horizonte", "31"),
        ("Rio Grande do Sul", "Porto Alegre", "51"),
        ("Paraná", "Curitiba", "41"),
        ("Santa Catarina", "Florianópolis", "48"),
        ("Pernambuco", "Recife", "81"),
        ("Bahia", "Salvador", "71"),
        ("Distrito Federal", "Brasília", "61"),
    ),
    "Portugal": (
        ("Lisboa", "Lisboa", "21"),
        ("Lisboa", "Cascais", "21"),
        ("Porto", "Porto", "22"),
        ("Porto", "Vila Nova de Gaia", "22"),
        ("Braga", "Braga", "253"),
        ("Coimbra", "Coimbra", "239"),
        ("Faro", "Faro", "289"),
        ("Aveiro", "Aveiro", "234"),
    ),
    "Spain": (
        ("Comunidad de Madrid", "Madrid", "91"),
        ("Comunidad de Madrid", "Alcalá de Henares", "91"),
        ("Cataluña", "Barcelona", "93"),
        ("Andalucía", "Sevilla", "95"),
        ("Andalucía", "Málaga", "95"),
        ("Comunidad Valenciana", "Valencia", "96"),
        ("País Vasco", "Bilbao", "94"),
        ("Aragón", "Zaragoza", "976"),
    ),
    "United States": (
        ("California", "San Francisco", "415"),
        ("California", "Los Angeles", "213"),
        ("California", "San Diego", "619"),
        ("New York", "New York", "212"),
        ("Texas", "Austin", "512"),
        ("Texas", "Dallas", "214"),
        ("Massachusetts", "Boston", "617"),
        ("Illinois", "Chicago", "312"),
        ("Washington", "Seattle", "206"),
        ("Florida", "Miami", "305"),
        ("Georgia", "Atlanta", "404"),
        ("Colorado", "Denver", "303"),
    ),
    "United Kingdom": (
        ("England", "London", "20 7946"),
        ("England", "Manchester", "161 496"),
        ("England", "Birmingham", "121 496"),
        ("England", "Leeds", "113 496"),
        ("England", "Bristol", "117 496"),
        ("Scotland", "Edinburgh", "131 496"),
        ("Scotland", "Glasgow", "141 496"),
        ("Wales", "Cardiff", "29 2018"),
    ),
    "Germany": (
        ("Berlin", "Berlin", "30"),
        ("Bayern", "München", "89"),
        ("Bayern", "Nürnberg", "911"),
        ("Hamburg", "Hamburg", "40"),
        ("Hessen", "Frankfurt am Main", "69"),
        ("Nordrhein-Westfalen", "Köln", "221"),
        ("Nordrhein-Westfalen", "Düsseldorf", "211"),
        ("Baden-Württemberg", "Stuttgart", "711"),
    ),
    "France": (
        ("Île-de-France", "Paris", "1"),
        ("Île-de-France", "Boulogne-Billancourt", "1"),
        ("Auvergne-Rhône-Alpes", "Lyon", "4"),
        ("Auvergne-Rhône-Alpes", "Grenoble", "4"),
        ("Provence-Alpes-Côte d'Azur", "Marseille", "4"),
        ("Provence-Alpes-Côte d'Azur", "Nice", "4"),
        ("Occitanie", "Toulouse", "5"),
        ("Nouvelle-Aquitaine", "Bordeaux", "5"),
        ("Hauts-de-France", "Lille", "3"),
    ),
}
COUNTRY_WEIGHTS: dict[str, int] = {
    "Brazil": 30,
    "United States": 22,
    "Spain": 12,
    "Portugal": 10,
    "United Kingdom": 10,
    "Germany": 8,
    "France": 8,
}
COUNTRY_CODE = {
    "Brazil": "55",
    "Portugal": "351",
    "Spain": "34",
    "United States": "1",
    "United Kingdom": "44",
    "Germany": "49",
    "France": "33",
}
LANGUAGE = {
    "Brazil": "pt-BR",
    "Portugal": "pt-PT",
    "Spain": "es",
    "United States": "en",
    "United Kingdom": "en",
    "Germany": "de",
    "France": "fr",
}
COMPANY_SUFFIXES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (small companies, large companies)
    "Brazil": ((" Ltda", " Ltda", " ME"), (" S.A.", " Ltda")),
    "Portugal": ((" Lda.", " Lda.", " Unipessoal"), (" S.A.", " SGPS")),
    "Spain": ((" S.L.", " S.L.", " S.L.U."), (" S.A.", " S.L.")),
    "United States": ((" LLC", " Inc.", ""), (" Inc.", " Corp.", " Group")),
    "United Kingdom": ((" Ltd", " Ltd", ""), (" plc", " Group", " Ltd")),
    "Germany": ((" GmbH", " GmbH", " UG"), (" AG", " GmbH", " SE")),
    "France": ((" SARL", " SAS", ""), (" SA", " SAS", " Groupe")),
}

# fmt: off
FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "Brazil": (
        "João", "Maria", "Ana", "Pedro", "Lucas", "Gabriel", "Mariana", "Juliana", "Rafael",
        "Fernanda", "Camila", "Bruno", "Larissa", "Thiago", "Beatriz", "Felipe", "Letícia",
        "Gustavo", "Carolina", "Rodrigo", "Patrícia", "Marcelo", "Aline", "Vinícius", "Renata",
        "Diego", "Bianca", "Leonardo", "Natália", "André",
    ),
    "Portugal": (
        "João", "Francisco", "Tomás", "Duarte", "Afonso", "Rodrigo", "Martim", "Beatriz",
        "Inês", "Leonor", "Matilde", "Carolina", "Mariana", "Sofia", "Catarina", "Rita",
        "Joana", "Miguel", "Gonçalo", "Diogo", "Tiago", "Teresa", "Filipa", "Margarida", "Rui",
        "Nuno", "Sara", "Vasco", "Helena", "Luís",
    ),
    "Spain": (
        "Alejandro", "Lucía", "Hugo", "Martina", "Pablo", "Sofía", "Daniel", "María", "Álvaro",
        "Paula", "Adrián", "Julia", "David", "Carmen", "Javier", "Elena", "Sergio", "Laura",
        "Diego", "Irene", "Manuel", "Sara", "Jorge", "Marta", "Carlos", "Claudia", "Raúl",
        "Nerea", "Iván", "Alba",
    ),
    "United States": (
        "James", "Mary", "Michael", "Patricia", "John", "Jennifer", "Robert", "Linda", "David",
        "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
        "Sarah", "Christopher", "Karen", "Daniel", "Emily", "Matthew", "Ashley", "Anthony",
        "Megan", "Andrew", "Rachel", "Joshua", "Lauren",
    ),
    "United Kingdom": (
        "Oliver", "Olivia", "George", "Amelia", "Harry", "Isla", "Jack", "Ava", "Charlie",
        "Emily", "Thomas", "Sophie", "Oscar", "Grace", "William", "Lily", "James", "Freya",
        "Henry", "Chloe", "Alfie", "Ella", "Edward", "Poppy", "Samuel", "Evie", "Joseph",
        "Ruby", "Alexander", "Charlotte",
    ),
    "Germany": (
        "Lukas", "Anna", "Leon", "Lena", "Finn", "Hannah", "Jonas", "Mia", "Paul", "Emma",
        "Felix", "Laura", "Maximilian", "Lea", "Elias", "Sophie", "Julian", "Marie", "Tim",
        "Johanna", "Jan", "Katharina", "Moritz", "Sarah", "Niklas", "Julia", "Tobias", "Clara",
        "Stefan", "Sabine",
    ),
    "France": (
        "Gabriel", "Louise", "Raphaël", "Emma", "Léo", "Jade", "Louis", "Alice", "Lucas",
        "Chloé", "Adam", "Léa", "Hugo", "Manon", "Arthur", "Inès", "Jules", "Camille", "Nathan",
        "Sarah", "Thomas", "Juliette", "Antoine", "Margaux", "Nicolas", "Élise", "Julien",
        "Claire", "Mathieu", "Amélie",
    ),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "Brazil": (
        "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
        "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
        "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
        "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    ),
    "Portugal": (
        "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins",
        "Jesus", "Sousa", "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves",
        "Almeida", "Ribeiro", "Pinto", "Carvalho", "Teixeira", "Moreira", "Correia", "Mendes",
        "Nunes", "Soares", "Vieira", "Monteiro", "Cardoso", "Rocha",
    ),
    "Spain": (
        "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
        "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
        "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
        "Gil", "Ramírez", "Serrano", "Blanco", "Molina",
    ),
    "United States": (
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
        "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson",
        "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
        "Wright", "Scott", "Hill", "Green", "Baker",
    ),
    "United Kingdom": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
        "Hall", "Wood", "Jackson", "Clarke", "Patel", "Hughes", "Edwards", "Turner", "Hill",
        "Cooper", "Ward", "Morris", "Harrison", "Khan",
    ),
    "Germany": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
        "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
        "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
    ),
    "France": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
        "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre",
        "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez",
    ),
}

# industry -> (words that can follow a brand, revenue per employee in USD)
INDUSTRIES: dict[str, tuple[tuple[str, ...], float]] = {
    "Software": (("Software", "Systems", "Labs", "Technologies"), 220_000.0),
    "IT Services": (("IT", "Solutions", "Consulting", "Digital"), 140_000.0),
    "Financial Services": (("Capital", "Finance", "Investimentos", "Partners"), 400_000.0),
    "Banking": (("Bank", "Banco", "Credit"), 450_000.0),
    "Insurance": (("Insurance", "Seguros", "Assurance"), 380_000.0),
    "Healthcare": (("Health", "Saúde", "Clinic", "Care"), 120_000.0),
    "Pharmaceuticals": (("Pharma", "Farma", "Biotech"), 350_000.0),
    "Education": (("Education", "Academy", "Learning", "Escola"), 70_000.0),
    "Retail": (("Store", "Retail", "Market"), 180_000.0),
    "E-commerce": (("Shop", "Commerce", "Online"), 260_000.0),
    "Manufacturing": (("Industries", "Manufacturing", "Indústria", "Tools"), 210_000.0),
    "Logistics": (("Logistics", "Transport", "Freight", "Express"), 160_000.0),
    "Telecommunications": (("Telecom", "Networks", "Connect"), 330_000.0),
    "Media": (("Media", "Studio", "Press"), 150_000.0),
    "Marketing & Advertising": (("Marketing", "Agency", "Creative", "Brands"), 120_000.0),
    "Real Estate": (("Properties", "Imóveis", "Realty"), 300_000.0),
    "Construction": (("Construction", "Engenharia", "Builders"), 190_000.0),
    "Energy": (("Energy", "Energia", "Power", "Solar"), 600_000.0),
    "Hospitality": (("Hotels", "Hospitality", "Travel"), 80_000.0),
    "Agriculture": (("Agro", "Farms", "Agrícola"), 170_000.0),
    "Automotive": (("Motors", "Automotive", "Auto Parts"), 280_000.0),
    "Legal Services": (("Legal", "Advogados", "Law"), 200_000.0),
    "Consulting": (("Consulting", "Advisory", "Partners"), 190_000.0),
    "Non-profit": (("Foundation", "Institute", "Association"), 60_000.0),
}
BRAND_HEADS = (
    "Nova", "Blue", "Alto", "Sol", "Prime", "Nexo", "Terra", "Atlas", "Orion", "Delta",
    "Luma", "Vita", "Stellar", "Cobalt", "Iron", "Silver", "Red", "Green", "North", "Bright",
    "Clear", "Swift", "True", "Open", "Smart", "Summit", "Pioneer", "Harbor", "Granite",
    "Aurora", "Vector", "Quanta", "Polar", "Cedar", "Maple", "Falcon", "Lince", "Onda",
    "Rio", "Costa", "Pampa", "Serra", "Mar", "Lumen", "Apex", "Zenith", "Echo", "Nimbus",
    "Pixel", "Bold", "Kappa", "Sigma", "Omega", "Vento", "Brisa", "Fuego", "Eis", "Sonne",
    "Berg", "Lumière",
)
BRAND_TAILS = (
    "tech", "soft", "labs", "works", "data", "logic", "ware", "line", "point", "wave",
    "bridge", "field", "stone", "gate", "path", "hub", "sys", "net", "flow", "core", "mind",
    "forge", "scale", "stack", "sense", "grid", "link", "nova", "print", "cloud",
)
# fmt: on

# (title, department, buying_role, weight)
JOB_TITLES: tuple[tuple[str, str | None, str | None, int], ...] = (
    ("CEO", "Executive", "decision_maker", 5),
    ("Founder", "Executive", "decision_maker", 4),
    ("Co-founder", "Executive", "decision_maker", 2),
    ("Managing Director", "Executive", "decision_maker", 2),
    ("Owner", "Executive", "decision_maker", 2),
    ("CMO", "Marketing", "decision_maker", 3),
    ("CTO", "IT", "decision_maker", 3),
    ("CFO", "Finance", "decision_maker", 2),
    ("COO", "Operations", "decision_maker", 1),
    ("VP Sales", "Sales", "decision_maker", 3),
    ("VP Marketing", "Marketing", "decision_maker", 3),
    ("Head of Marketing", "Marketing", "decision_maker", 4),
    ("Head of Sales", "Sales", "decision_maker", 3),
    ("Head of Growth", "Marketing", "decision_maker", 2),
    ("IT Director", "IT", "decision_maker", 2),
    ("Marketing Manager", "Marketing", "influencer", 10),
    ("IT Manager", "IT", "influencer", 6),
    ("Sales Manager", "Sales", "influencer", 7),
    ("Product Manager", "Product", "influencer", 5),
    ("Operations Manager", "Operations", "influencer", 4),
    ("Demand Generation Manager", "Marketing", "influencer", 3),
    ("Customer Success Manager", "Customer Success", "influencer", 3),
    ("Finance Manager", "Finance", "influencer", 2),
    ("Project Manager", "Operations", "influencer", 3),
    ("Marketing Analyst", "Marketing", "user", 9),
    ("Data Analyst", "Data", "user", 5),
    ("Business Analyst", "Operations", "user", 4),
    ("Software Engineer", "Engineering", "user", 6),
    ("Developer", "Engineering", "user", 4),
    ("Sales Rep", "Sales", "user", 6),
    ("Sales Development Representative", "Sales", "user", 4),
    ("Account Executive", "Sales", "user", 4),
    ("Content Writer", "Marketing", "user", 3),
    ("Designer", "Marketing", "user", 3),
    ("Marketing Coordinator", "Marketing", "user", 4),
    ("Support Specialist", "Customer Success", "user", 3),
    ("Accountant", "Finance", "user", 2),
    ("Intern", "Marketing", "user", 2),
)
# Profiles of contacts without a company address.
PERSONAL_TITLES: tuple[tuple[str, str | None, str | None, int], ...] = (
    ("Student", None, None, 5),
    ("Unemployed", None, None, 2),
    ("Intern", None, "user", 2),
    ("Freelance Consultant", None, "decision_maker", 3),
    ("Freelance Designer", "Marketing", "user", 2),
)
PERSONAL_DOMAINS = ("mail.example.com", "inbox.example.net", "post.example.org")
DOMAIN_SUFFIXES = (".example.com", ".example.com", ".example.net", ".example.org")

SOURCES = ("web", "event", "referral", "import", "ads", "partner")

# (topic, kind, lead sources, weight). The kind decides the activity that created the lead.
TOPICS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("Ebook: Lead scoring 101", "ebook", ("web", "ads"), 12),
    ("Ebook: The B2B funnel handbook", "ebook", ("web", "ads"), 8),
    ("Checklist: CRM migration", "ebook", ("web",), 5),
    ("Newsletter", "newsletter", ("web",), 12),
    ("Pricing webinar — Q3", "webinar", ("web", "ads"), 7),
    ("Webinar: Scores sales trusts", "webinar", ("web", "ads"), 5),
    ("Landing page — Integrations", "landing", ("ads", "web"), 7),
    ("Landing page — Black Friday", "landing", ("ads",), 4),
    ("Contact us", "landing", ("web",), 5),
    ("Demo request", "demo", ("web", "ads", "referral"), 4),
    ("Trial — Pro plan", "trial", ("web",), 3),
    ("Trial — Team plan", "trial", ("web", "ads"), 2),
    ("Trade show Lisbon", "event", ("event",), 3),
    ("Web Summit São Paulo", "event", ("event",), 2),
    ("SaaS Expo Madrid", "event", ("event",), 2),
    ("Partner referral", "partner", ("partner",), 4),
    ("Customer referral", "referral", ("referral",), 3),
    ("Imported list — Trade fair 2025", "import", ("import",), 5),
)
ACCOUNT_TOPICS: tuple[tuple[str, str], ...] = (
    ("Account-based campaign — Enterprise", "ads"),
    ("Partner referral", "partner"),
    ("Trade show Lisbon", "event"),
)
LANDING_URLS = {
    "Ebook: Lead scoring 101": "/ebooks/lead-scoring-101",
    "Ebook: The B2B funnel handbook": "/ebooks/b2b-funnel-handbook",
    "Checklist: CRM migration": "/resources/crm-migration-checklist",
    "Newsletter": "/blog",
    "Pricing webinar — Q3": "/webinars/pricing-q3",
    "Webinar: Scores sales trusts": "/webinars/scores-sales-trusts",
    "Landing page — Integrations": "/lp/integrations",
    "Landing page — Black Friday": "/lp/black-friday",
    "Contact us": "/contact",
    "Demo request": "/demo",
    "Trial — Pro plan": "/pricing",
    "Trial — Team plan": "/pricing",
}
# (campaign, subject, landing url)
CAMPAIGNS: tuple[tuple[str, str, str], ...] = (
    ("Monthly newsletter", "What's new at LeadDesk this month", "/blog/whats-new"),
    ("Monthly newsletter", "5 scoring rules our customers love", "/blog/scoring-rules"),
    ("Monthly newsletter", "From MQL to SQL without the drama", "/blog/mql-to-sql"),
    ("Nurture — Lead scoring", "Is your score lying to you?", "/blog/score-decay"),
    ("Nurture — Lead scoring", "The fit vs. engagement matrix", "/blog/fit-engagement"),
    ("Nurture — Lead scoring", "Case study: 3x more sales-ready leads", "/customers"),
    ("Nurture — Evaluation", "See the pricing that fits your team", "/pricing"),
    ("Nurture — Evaluation", "Integrations: your stack, connected", "/features/integrations"),
    ("Nurture — Evaluation", "Book a 20-minute demo", "/demo"),
    ("Webinar invitation", "Live: pricing webinar — save your seat", "/webinars/pricing-q3"),
    ("Webinar invitation", "Last call: scores sales trusts", "/webinars/scores-sales-trusts"),
    ("Event invitation", "Meet us at the Lisbon trade show", "/events/lisbon"),
    ("Product update", "New: recurring product events", "/features"),
    ("Product update", "Reports you can export in one click", "/features/reports"),
    ("Black Friday", "48 hours: 30% off the Pro plan", "/checkout"),
    ("Re-engagement", "Should we stop writing?", "/preferences"),
)
# (url, weight) of pages identified visitors browse.
SITE_PAGES: tuple[tuple[str, int], ...] = (
    ("/", 10),
    ("/features", 8),
    ("/features/scoring", 5),
    ("/features/integrations", 4),
    ("/features/reports", 3),
    ("/pricing", 7),
    ("/customers", 3),
    ("/blog/what-is-lead-scoring", 5),
    ("/blog/mql-to-sql", 4),
    ("/blog/score-decay", 3),
    ("/blog/b2b-email-benchmarks", 3),
    ("/blog/whats-new", 2),
    ("/docs/getting-started", 3),
    ("/about", 2),
    ("/careers", 1),
    ("/checkout", 1),
)
CONTENT_OFFERS = (
    "Ebook: Lead scoring 101",
    "Ebook: The B2B funnel handbook",
    "Checklist: CRM migration",
    "Report: State of B2B marketing",
    "Template: Scoring model worksheet",
)
PRODUCT_EVENTS = ("task_created", "project_created", "report_exported")
NETWORKS = (("linkedin", 6), ("facebook", 2), ("twitter", 2))
CALL_OUTCOMES = ("connected", "voicemail", "no answer", "connected")
PLANS = (("Pro", 49.0), ("Team", 99.0), ("Pro", 49.0))

USER_PLAN: tuple[tuple[str, int], ...] = (
    ("admin", 1),
    ("marketer", 2),
    ("telemarketer", 3),
    ("manager", 2),
    ("salesperson", 5),
)

ACTIVITY_KEYS = (
    "email_sent",
    "email_open",
    "email_click",
    "email_reply",
    "email_bounce",
    "unsubscribe",
    "page_visit",
    "form_submit",
    "content_download",
    "event_attended",
    "webinar_attended",
    "social_click",
    "call",
    "meeting_booked",
    "meeting",
    "meeting_cancelled",
    "demo",
    "trial_signup",
    "product_event",
    "purchase",
)

DAY = 86_400
HOUR = 3_600

USER_COLUMNS = ("id", "name", "role", "email", "active", "created_at")
ACCOUNT_COLUMNS = (
    "id", "name", "domain", "industry", "employees", "annual_revenue", "country", "state",
    "city", "custom", "created_at", "updated_at",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "email", "first_name", "last_name", "phone", "job_title", "department",
    "buying_role", "country", "state", "city", "age", "source", "is_employee", "is_customer",
    "email_subscribed", "account_id", "custom", "created_at", "updated_at",
)  # fmt: skip
LEAD_COLUMNS = (
    "id", "contact_id", "account_id", "topic", "source", "owner_id", "tags",
    "last_activity_at", "created_at", "updated_at", "sort_name", "sort_company", "search_text",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "id", "contact_id", "lead_id", "type_key", "occurred_at", "properties", "user_id",
    "created_at",
)  # fmt: skip


def constant_columns(raw: bool) -> dict[str, dict[str, Any]]:
    """Columns every generated row of a table stores alike, by table, in the rows'
    encoding: a new lead is an open inquiry nobody has scored or flagged yet. They are not
    in the rows: the writer puts them in the INSERT once (half of a lead's columns, which
    the child would otherwise pickle and the driver bind 100,000 times)."""
    empty = sqlite_json({}) if raw else {}
    return {
        "leads": {
            "stage": "inquiry",
            "status": "open",
            "status_reason": None,
            "sales_ready": False,
            "telemarketing_ready": False,
            "accepted_telemarketing": False,
            "sales_accepted": False,
            "qualification": empty,
            "custom": empty,
            "score": 0,
            "stars": 0,
            "scored_at": None,
        }
    }


TABLES = (
    ("users", USER_COLUMNS),
    ("accounts", ACCOUNT_COLUMNS),
    ("contacts", CONTACT_COLUMNS),
    ("leads", LEAD_COLUMNS),
    ("activities", ACTIVITY_COLUMNS),
)
"""The tables a batch holds rows for, in its order: the order their foreign keys accept."""


# --- helpers --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _ascii_slug(text: str, sep: str = "") -> str:
    """Names as they appear in e-mail addresses and domains: German umlauts spelled out the
    way Germans do (Müller → mueller), other accents dropped."""
    text = text.lower()
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, spelled)
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = "".join(ch if ch.isalnum() else " " for ch in plain).split()
    return sep.join(words)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small means used here (capped so it stays cheap)."""
    if lam <= 0:
        return 0
    lam = min(lam, 60.0)
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Weighted:
    """Weighted choice with the cumulative weights computed once, not per call."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        total = 0.0
        self.cum: list[float] = []
        for w in weights:
            total += w
            self.cum.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect(self.cum, rng.random() * self.total)]


def _clock_table(microsecond: int) -> list[str]:
    """`` HH:MM:SS.ffffff`` for every second of a day: 86,400 strings (about 7 MB while a
    demo is generated), built in under 10 ms."""
    minutes = [f" {h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
    seconds = [f"{s:02d}.{microsecond:06d}" for s in range(60)]
    return [minute + second for minute in minutes for second in seconds]


def _pick(seq: Sequence[Any], rand: Callable[[], float]) -> Any:
    """``random.choice`` by one ``random()`` call: the demo draws half a million of these,
    and ``choice``'s rejection sampling over ``getrandbits`` costs four times as much."""
    return seq[int(rand() * len(seq))]


class _Codec:
    """How values reach the database: pre-encoded text for the SQLite fast path (exactly
    what SQLAlchemy's JSON and DateTime types store there), Python objects for Core.

    A demo writes about twelve timestamps per lead, so the text is two table look-ups, a
    day string and a time-of-day string (every second of a day, the base's microseconds
    already appended), instead of a datetime sum and ``isoformat`` per value (five times
    faster; ``test_demo`` checks it against ``isoformat``)."""

    DAYS = 400
    """Day strings tabled: the window plus the few weeks events may run past it."""

    def __init__(self, raw: bool, base: datetime) -> None:
        self.raw = raw
        self.base = base
        midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
        self._offset = (base - midnight).seconds
        self._days = [(midnight + timedelta(days=d)).date().isoformat() for d in range(self.DAYS)]
        self._clock = _clock_table(base.microsecond) if raw else []

    def when(self, seconds: int) -> Any:
        if not self.raw:
            return self.base + timedelta(seconds=seconds)
        day, rest = divmod(seconds + self._offset, DAY)
        if not 0 <= day < self.DAYS:
            return sqlite_datetime(self.base + timedelta(seconds=seconds))
        return self._days[day] + self._clock[rest]

    def json(self, value: Any) -> Any:
        return sqlite_json(value) if self.raw else value


class RowGenerator:
    """The demo's rows, table by table, handed to ``emit`` in batches: users first, then
    accounts, contacts, leads and activities in an order their foreign keys accept.
    Knows nothing of the database: ``start`` says what the desk already holds."""

    def __init__(
        self,
        start: DeskStart,
        seed: int,
        now: datetime,
        raw: bool,
        total: int,
        emit: Emit,
        *,
        with_activities: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self.span = int(WINDOW.total_seconds())
        self.codec = _Codec(raw, now - WINDOW)
        self.emit = emit
        self.lead_batch = max(500, min(LEAD_BATCH, total // 20))
        self.with_activities = with_activities
        codec = self.codec

        self.start = start
        self.emails = set(start.emails)
        self.domains = set(start.domains)
        self.user_names = set(start.user_names)
        self.account_id = start.account_id
        self.contact_id = start.contact_id
        self.lead_id = start.lead_id
        self.activity_id = start.activity_id
        self.user_id = start.user_id
        self.users: list[Row] = []
        self.accounts: list[Row] = []
        self.contacts: list[Row] = []
        self.leads: list[Row] = []
        self.activities: list[Row] = []

        self.countries = _Weighted(list(COUNTRY_WEIGHTS), list(COUNTRY_WEIGHTS.values()))
        self.industries = list(INDUSTRIES)
        self.titles = _Weighted(JOB_TITLES, [t[3] for t in JOB_TITLES])
        self.personal_titles = _Weighted(PERSONAL_TITLES, [t[3] for t in PERSONAL_TITLES])
        self.topics = _Weighted(TOPICS, [t[3] for t in TOPICS])
        self.pages = _Weighted(
            [codec.json({"url": url}) for url, _w in SITE_PAGES], [w for _u, w in SITE_PAGES]
        )
        self.networks = _Weighted(
            [codec.json({"network": n}) for n, _w in NETWORKS], [w for _n, w in NETWORKS]
        )
        self.email_props = [codec.json({"campaign": c, "subject": s}) for c, s, _u in CAMPAIGNS]
        self.click_props = [
            codec.json({"campaign": c, "subject": s, "url": u}) for c, s, u in CAMPAIGNS
        ]
        self.landing_props = [codec.json({"url": u}) for _c, _s, u in CAMPAIGNS]
        self.topic_page = {t: codec.json({"url": u}) for t, u in LANDING_URLS.items()}
        self.topic_form = {
            t: codec.json({"form": kind, "topic": t, "url": LANDING_URLS.get(t, "/")})
            for t, kind, _s, _w in TOPICS
        }
        self.topic_event = {t: codec.json({"event": t}) for t, _k, _s, _w in TOPICS}
        self.content_props = [codec.json({"content": c}) for c in CONTENT_OFFERS]
        self.product_props = [codec.json({"name": n}) for n in PRODUCT_EVENTS] + [
            codec.json({"name": n, "recurring": True}) for n in PRODUCT_EVENTS
        ]
        self.trial_props = {p: codec.json({"plan": p}) for p, _v in PLANS}
        self.purchase_props = [
            codec.json({"plan": p, "amount": v * 12, "currency": "USD"}) for p, v in PLANS
        ]
        self.call_props = [codec.json({"outcome": o}) for o in CALL_OUTCOMES]
        self.meeting_props = codec.json({"kind": "discovery"})
        self.empty = codec.json({})
        self.empty_list = codec.json([])
        self.segments = {s: codec.json({"segment": s}) for s in ("SMB", "Mid-market", "Enterprise")}
        self.languages = {
            c: codec.json({"preferred_language": lang}) for c, lang in LANGUAGE.items()
        }
        self.tags = {t: codec.json([t]) for t in ("enterprise", "priority", "follow-up")}
        self.salespeople: list[int] = []

    # --- top level ---

    def run(self, total: int) -> DemoSummary:
        self._users()
        made = 0
        while made < total:
            if self.rng.random() < 0.07:
                made += self._standalone_contact(total - made)
            else:
                made += self._account(total - made)
            if len(self.activities) >= ACTIVITY_BATCH or len(self.leads) >= self.lead_batch:
                self._flush(made)
        self._flush(made)
        return DemoSummary(
            accounts=self.account_id - self.start.account_id,
            contacts=self.contact_id - self.start.contact_id,
            leads=self.lead_id - self.start.lead_id,
            activities=self.activity_id - self.start.activity_id,
            users=self.user_id - self.start.user_id,
        )

    def _flush(self, done: int) -> None:
        batch = (self.users, self.accounts, self.contacts, self.leads, self.activities)
        self.users, self.accounts, self.contacts, self.leads, self.activities = (
            [],
            [],
            [],
            [],
            [],
        )
        self.emit(batch, done)

    def _users(self) -> None:
        rng = self.rng
        created = self.codec.when(-30 * DAY)
        for role, count in USER_PLAN:
            for _ in range(count):
                country = self.countries.pick(rng)
                for _attempt in range(1000):
                    first = rng.choice(FIRST_NAMES[country])
                    last = rng.choice(LAST_NAMES[country])
                    name = f"{first} {last}"
                    if name not in self.user_names:
                        break
                else:  # pragma: no cover - 900 names per country, a handful per run
                    name = f"{first} {last} {self.user_id}"
                self.user_names.add(name)
                email = f"{_ascii_slug(first)}.{_ascii_slug(last)}@{DESK_DOMAIN}"
                self.users.append((self.user_id, name, role, email, True, created))
                if role == "salesperson":
                    self.salespeople.append(self.user_id)
                self.user_id += 1

    # --- accounts ---

    def _domain(self, brand: str, word: str, suffix: str) -> str:
        base = _ascii_slug(brand, "-")
        candidates = [base, f"{base}-{_ascii_slug(word, '-')}"]
        for candidate in candidates:
            domain = candidate + suffix
            if domain not in self.domains:
                return domain
        n = 2
        while f"{base}-{n}{suffix}" in self.domains:
            n += 1
        return f"{base}-{n}{suffix}"

    def _account(self, remaining: int) -> int:
        rng = self.rng
        rand = rng.random
        codec = self.codec
        country = self.countries.pick(rng)
        state, city, area = _pick(CITIES[country], rand)
        industry = _pick(self.industries, rand)
        words, revenue_per_head = INDUSTRIES[industry]
        # Log-distributed size, skewed small: median around 35, a few at tens of thousands.
        employees = max(1, round(math.exp(math.log(50_000) * rand() ** 1.6)))
        large = employees >= 1000
        word = _pick(words, rand)
        if rand() < 0.25:
            brand = f"{_pick(LAST_NAMES[country], rand)} & {_pick(LAST_NAMES[country], rand)}"
        else:
            brand = _pick(BRAND_HEADS, rand) + _pick(BRAND_TAILS, rand)
        suffix = _pick(COMPANY_SUFFIXES[country][1 if large else 0], rand)
        name = f"{brand} {word}{suffix}" if rand() < 0.6 else f"{brand}{suffix}"
        domain = self._domain(brand, word, _pick(DOMAIN_SUFFIXES, rand))
        self.domains.add(domain)
        revenue: float | None = None
        if rand() > 0.06:
            revenue = float(round(employees * revenue_per_head * rng.lognormvariate(0, 0.4), -3))
        segment = "Enterprise" if large else ("Mid-market" if employees >= 100 else "SMB")
        customer = rand() < 0.04

        account_id = self.account_id
        self.account_id += 1
        mean_extra = 0.4 + math.log10(employees + 1)
        n_contacts = min(20, 1 + int(rng.expovariate(1 / mean_extra)))
        site = (country, state, city, area)
        made = 0
        created = self.span
        last = -1
        contact_leads = 0
        for _ in range(n_contacts):
            if made >= remaining:
                break
            person = self._person(country)
            email = self._email(person[0], person[1], domain)
            title = self.titles.pick(rng)
            where = site if rand() < 0.75 else (country, *_pick(CITIES[country], rand))
            n_made, c_created, c_last = self._contact(
                email,
                person,
                title,
                where,
                account_id,
                remaining=remaining - made,
                customer_account=customer,
                large=large,
                company=name,
            )
            made += n_made
            contact_leads += n_made
            created = min(created, c_created)
            last = max(last, c_last)
        # Account-based leads: more likely on accounts where many people are already active.
        if made < remaining and rand() < 0.02 * contact_leads / 0.98:
            topic, source = _pick(ACCOUNT_TOPICS, rand)
            t = max(created, self._lead_time())
            owner = _pick(self.salespeople, rand) if rand() < 0.5 else None
            last_at = codec.when(last) if last >= 0 else None
            folded = lead_labels(None, None, None, name, topic)
            self._lead_row(None, account_id, topic, source, owner, t, last_at, large, folded)
            made += 1
        when = codec.when(max(0, created - DAY - int(rand() * 29 * DAY)))
        self.accounts.append(
            (
                account_id, name, domain, industry, employees, revenue, country, state, city,
                self.segments[segment], when, when,
            )
        )  # fmt: skip
        return made

    def _standalone_contact(self, remaining: int) -> int:
        rng = self.rng
        rand = rng.random
        country = self.countries.pick(rng)
        state, city, area = _pick(CITIES[country], rand)
        person = self._person(country)
        if rand() < 0.04:
            title = self.titles.pick(rng)
            email = self._email(person[0], person[1], DESK_DOMAIN)
            employee = True
        else:
            title = self.personal_titles.pick(rng)
            email = self._email(person[0], person[1], _pick(PERSONAL_DOMAINS, rand))
            employee = False
        made, _created, _last = self._contact(
            email,
            person,
            title,
            (country, state, city, area),
            None,
            remaining=remaining,
            employee=employee,
        )
        return made

    # --- contacts ---

    def _person(self, country: str) -> tuple[str, str]:
        rng = self.rng
        rand = rng.random
        # People move: a few names come from elsewhere.
        origin = self.countries.pick(rng) if rand() < 0.1 else country
        return _pick(FIRST_NAMES[origin], rand), _pick(LAST_NAMES[origin], rand)

    def _email(self, first: str, last: str, domain: str) -> str:
        rng = self.rng
        rand = rng.random
        f, l_ = _ascii_slug(first), _ascii_slug(last)
        pattern = rand()
        if pattern < 0.5:
            local = f"{f}.{l_}"
        elif pattern < 0.7:
            local = f"{f[0]}{l_}"
        elif pattern < 0.85:
            local = f
        else:
            local = f"{f}{l_}"
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email

    def _phone(self, country: str, area: str) -> str:
        rng = self.rng
        rand = rng.random
        cc = COUNTRY_CODE[country]
        if country == "United States":  # 555-01xx: reserved for fiction
            return f"+1 {area} 555-01{int(rand() * 100):02d}"
        if country == "United Kingdom":  # Ofcom's drama ranges
            return f"+44 {area} {int(rand() * 1000):03d}"
        if country == "Brazil":
            return f"+55 {area} 9{int(rand() * 10000):04d}-{int(rand() * 10000):04d}"
        digits = 9 - len(area) if country in ("Portugal", "Spain", "France") else 8
        number = f"{int(rand() * 10**digits):0{digits}d}"
        return f"+{cc} {area} {number}"

    def _lead_time(self) -> int:
        """A creation time over the window, denser towards now (marketing grows)."""
        return int((self.span - 600) * self.rng.random() ** (1 / 1.3))

    def _contact(
        self,
        email: str,
        person: tuple[str, str],
        title: tuple[str, str | None, str | None, int],
        where: tuple[str, str, str, str],
        account_id: int | None,
        *,
        remaining: int,
        customer_account: bool = False,
        large: bool = False,
        employee: bool = False,
        company: str | None = None,
    ) -> tuple[int, int, int]:
        """Write one contact, its leads and its activities; returns (leads, created, last)."""
        rng = self.rng
        rand = rng.random
        codec = self.codec
        country, state, city, area = where
        job_title, department, buying_role, _w = title
        contact_id = self.contact_id
        self.contact_id += 1

        roll = rand()
        n_leads = min(remaining, 1 if roll < 0.83 else (2 if roll < 0.96 else 3))
        topics: list[tuple[str, str, tuple[str, ...], int]] = [self.topics.pick(rng)]
        while len(topics) < n_leads:
            topic = self.topics.pick(rng)
            if topic not in topics:
                topics.append(topic)
        if n_leads == 1:  # five contacts in six: no sorting, no list building
            first = self._lead_time()
            times = [first]
        else:
            first = min(self._lead_time() for _ in topics)
            # Later leads of the same person come after the first one.
            times = [first] + [first + int((self.span - first) * rand()) for _ in topics[1:]]
        lead_ids = list(range(self.lead_id, self.lead_id + n_leads))
        self.lead_id += n_leads
        owners = [_pick(self.salespeople, rand) if rand() < 0.3 else None for _ in topics]
        start = max(0, first - int(rand() * 2 * DAY))
        sources = [s[0] if len(s) == 1 else _pick(s, rand) for _t, _k, s, _w in topics]

        subscribed = rand() > 0.06
        if self.with_activities:
            engagement = rng.lognormvariate(-0.6, 1.1)
            events, subscribed, purchased = self._activities(
                lead_ids, topics, times, owners, start, engagement, subscribed
            )
        else:
            events, purchased = [], False
        last = -1
        if events:
            events.sort(key=itemgetter(0))
            last = events[-1][0]
            aid = self.activity_id
            append = self.activities.append
            when = codec.when
            for t, key, props, lead_id, user_id in events:
                stamp = when(t)
                append((aid, contact_id, lead_id, key, stamp, props, user_id, stamp))
                aid += 1
            self.activity_id = aid

        if job_title == "Student":
            age: int | None = 20 + int(rand() * 7)
        elif rand() < 0.1:
            age = None
        else:
            age = int(rng.triangular(20, 65.99, 36))
        phone = self._phone(country, area) if rand() < 0.7 else None
        is_customer = purchased or (customer_account and rand() < 0.7)
        created = codec.when(start)
        custom = self.languages[country] if rand() < 0.3 else self.empty
        self.contacts.append(
            (
                contact_id, email, person[0], person[1], phone, job_title, department,
                buying_role, country, state, city, age, sources[0], employee, is_customer,
                subscribed, account_id, custom, created, created,
            )
        )  # fmt: skip
        last_at = codec.when(last) if last >= 0 else None
        lead_row = self._lead_row
        first_name, last_name = person
        for lead_id, (topic, _k, _s, _w), source, t, owner in zip(
            lead_ids, topics, sources, times, owners, strict=True
        ):
            folded = lead_labels(first_name, last_name, email, company, topic)
            lead_row(
                contact_id, account_id, topic, source, owner, t, last_at, large, folded, lead_id
            )
        return n_leads, start, last

    def _lead_row(
        self,
        contact_id: int | None,
        account_id: int | None,
        topic: str,
        source: str,
        owner: int | None,
        t: int,
        last_at: Any,
        large: bool,
        folded: tuple[str, str, str],
        lead_id: int | None = None,
    ) -> None:
        """``folded``: the list's sort and search columns (``lead_labels``), written with
        the row instead of by a second pass over every lead."""
        if lead_id is None:
            lead_id = self.lead_id
            self.lead_id += 1
        created = self.codec.when(t)
        roll = self.rng.random()
        if large:
            tags = self.tags["enterprise"]
        elif roll < 0.05:
            tags = self.tags["priority"]
        elif roll < 0.12:
            tags = self.tags["follow-up"]
        else:
            tags = self.empty_list
        self.leads.append(
            (
                lead_id, contact_id, account_id, topic, source, owner, tags, last_at, created,
                created, *folded,
            )
        )  # fmt: skip

    # --- activities ---

    def _activities(
        self,
        lead_ids: list[int],
        topics: list[tuple[str, str, tuple[str, ...], int]],
        times: list[int],
        owners: list[int | None],
        start: int,
        e: float,
        subscribed: bool,
    ) -> tuple[list[tuple[int, str, Any, int | None, int | None]], bool, bool]:
        """A contact's history as (time, type, properties, lead_id, user_id) tuples.

        Returns the events, whether the contact is still subscribed and whether it bought.
        """
        rng = self.rng
        rand = rng.random
        n_campaigns = len(CAMPAIGNS)

        def between(low: int, high: int) -> int:
            # randrange() costs several times more and is called a million times.
            return low + int(rand() * (high - low))

        span = self.span
        events: list[tuple[int, str, Any, int | None, int | None]] = []
        add = events.append
        purchased = False
        trial_at = -1
        trial_lead = lead_ids[0]
        initially_subscribed = subscribed

        # How each lead came in.
        for lead_id, (topic, kind, _s, _w), t, owner in zip(
            lead_ids, topics, times, owners, strict=True
        ):
            page = self.topic_page.get(topic)
            if page is not None:
                add((max(start, t - between(30, 900)), "page_visit", page, None, None))
            if kind == "ebook":
                add((t, "content_download", self.topic_event[topic], lead_id, None))
            elif kind in ("newsletter", "landing", "webinar", "demo"):
                add((t, "form_submit", self.topic_form[topic], lead_id, None))
            elif kind == "event":
                add((t, "event_attended", self.topic_event[topic], lead_id, None))
            elif kind == "trial":
                plan = "Team" if "Team" in topic else "Pro"
                add((t, "trial_signup", self.trial_props[plan], lead_id, None))
                trial_at, trial_lead = t, lead_id
            if kind == "webinar" and rand() < 0.45:
                add((t + between(DAY, 14 * DAY), "webinar_attended",
                     self.topic_event[topic], lead_id, None))  # fmt: skip
            if kind == "demo" or (owner is not None and rand() < 0.04 * e):
                booked = t + between(HOUR, 3 * DAY)
                add((booked, "meeting_booked", self.meeting_props, lead_id, owner))
                held = booked + between(DAY, 10 * DAY)
                if rand() < 0.15:
                    add((held, "meeting_cancelled", self.meeting_props, lead_id, owner))
                else:
                    add((held, "demo" if rand() < 0.6 else "meeting", self.meeting_props,
                         lead_id, owner))  # fmt: skip
                    if rand() < 0.12:
                        purchased = True
                        add((held + between(DAY, 30 * DAY), "purchase",
                             rng.choice(self.purchase_props), lead_id, owner))  # fmt: skip
            if owner is not None and rand() < 0.1:
                for _ in range(1 + int(rand() * 2.2)):
                    add((t + between(HOUR, 20 * DAY), "call",
                         rng.choice(self.call_props), lead_id, owner))  # fmt: skip

        # Marketing e-mails: everyone subscribed gets them, engagement decides the rest.
        p_open = min(0.9, 0.22 + 0.25 * e)
        p_click = min(0.6, 0.12 + 0.14 * e)
        p_reply = min(0.25, 0.02 + 0.035 * e)
        bounces = rand() < 0.012
        t = start + between(HOUR, 12 * DAY)
        while subscribed and t < span:
            campaign = int(rand() * n_campaigns)
            if bounces:
                add((t, "email_bounce", self.email_props[campaign], None, None))
                subscribed = False
                break
            add((t, "email_sent", self.email_props[campaign], None, None))
            if rand() < p_open:
                opened = t + int(rng.expovariate(1 / (8 * HOUR)))
                add((opened, "email_open", self.email_props[campaign], None, None))
                if rand() < 0.15:
                    again = opened + int(rng.expovariate(1 / DAY))
                    add((again, "email_open", self.email_props[campaign], None, None))
                if rand() < p_click:
                    clicked = opened + between(5, 600)
                    add((clicked, "email_click", self.click_props[campaign], None, None))
                    if rand() < 0.45:
                        add((clicked + between(2, 30), "page_visit",
                             self.landing_props[campaign], None, None))  # fmt: skip
                if rand() < p_reply:
                    add((opened + between(60, 2 * DAY), "email_reply",
                         self.email_props[campaign], lead_ids[0], None))  # fmt: skip
                if rand() < 0.004:
                    add((opened + between(5, 600), "unsubscribe",
                         self.email_props[campaign], None, None))  # fmt: skip
                    subscribed = False
            t += between(8 * DAY, 24 * DAY)

        months = (span - start) / (30 * DAY)
        # Identified web sessions (most visits are anonymous and never reach the desk).
        for _ in range(_poisson(rng, e * months * 0.12)):
            t = between(start, span)
            for _page in range(1 + int(rng.expovariate(0.9))):
                add((t, "page_visit", self.pages.pick(rng), None, None))
                t += between(10, 300)
            r = rand()
            if r < 0.12:
                add((t, "content_download", rng.choice(self.content_props), None, None))
            elif r < 0.2:
                add((t, "form_submit", self.topic_form["Contact us"], None, None))
        for _ in range(_poisson(rng, e * months * 0.05)):
            add((between(start, span), "social_click", self.networks.pick(rng), None, None))
        if rand() < 0.02 * e:
            add((between(start, span), "webinar_attended",
                 self.topic_event["Webinar: Scores sales trusts"], None, None))  # fmt: skip
        if rand() < 0.01 * e:
            add((between(start, span), "event_attended",
                 self.topic_event["Trade show Lisbon"], None, None))  # fmt: skip

        # Product usage after a trial signup.
        if trial_at >= 0:
            t = trial_at
            for _ in range(_poisson(rng, 1 + 3 * e)):
                t += between(HOUR, 3 * DAY)
                add((t, "product_event", rng.choice(self.product_props), trial_lead, None))
            if rand() < min(0.5, 0.08 * e):
                purchased = True
                add((trial_at + between(7 * DAY, 20 * DAY), "purchase",
                     rng.choice(self.purchase_props), trial_lead, None))  # fmt: skip

        # Nothing after now: late opens and meetings in the future are not history yet.
        if any(ev[0] > span for ev in events):
            events = [ev for ev in events if ev[0] <= span]
            purchased = any(ev[1] == "purchase" for ev in events)
            if not subscribed:
                subscribed = initially_subscribed and not any(
                    ev[1] in ("unsubscribe", "email_bounce") for ev in events
                )
        return events, subscribed, purchased


# --- the child process ----------------------------------------------------------------------


OUTBOX_BATCHES = 8
"""Batches the child may have made ahead of the parent's writing (about 15 MB)."""


def serve(source: BinaryIO, sink: BinaryIO) -> int:
    """Read a pickled :class:`Request`, write ``("rows", batch, done)`` messages, then
    ``("end", summary)``; on an error, ``("error", traceback)``.

    The messages leave from a thread of their own: a pipe holds 64 KB, a batch 1.7 MB, so
    writing them from the generating thread would stop the generator for as long as the
    parent takes to write each batch to the desk, and the two processes would take turns
    instead of working at once. The sender spends its time blocked in ``write`` (without
    the GIL); ``OUTBOX_BATCHES`` bounds how far ahead the generator gets."""
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=OUTBOX_BATCHES)
    sink.flush()
    descriptor = sink.fileno()

    def send() -> None:
        try:
            while (message := outbox.get()) is not None:
                view = memoryview(message)
                while view:
                    view = view[os.write(descriptor, view) :]
        except OSError:
            # The parent stopped reading: a cancel (it kills this process anyway) or the
            # parent died. Nothing will read what is still to come; stop at once rather
            # than block the generator on a full outbox.
            os._exit(1)

    def post(message: tuple[Any, ...]) -> None:
        outbox.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    sender = threading.Thread(target=send, name="demo rows sender", daemon=True)
    sender.start()
    status = 0
    try:
        request: Request = pickle.load(source)
        summary = RowGenerator(
            request.start,
            request.seed,
            request.now,
            request.raw,
            request.total,
            lambda batch, done: post(("rows", batch, done)),
            with_activities=request.with_activities,
        ).run(request.total)
        post(("end", summary))
    except Exception:
        post(("error", traceback.format_exc()))
        status = 1
    outbox.put(None)
    sender.join()
    return status


if __name__ == "__main__":
    # Served by the module imported under its own name, not by ``__main__``: what is
    # pickled (the summary) must name classes the parent can find.
    from leaddesk.services.demo_rows import serve as _serve

    sys.exit(_serve(sys.stdin.buffer, sys.stdout.buffer))
