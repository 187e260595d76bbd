"""Sandbox stand-in for the KORE apps' own database (Sponsorship, Suites & Premium, Ticketing).

The KORE apps are the source of truth for the ``kore_to_crm`` entities of the registry: deal sheets,
inventory, premium deals, touchpoints... This module writes what their database export would look
like, so the landing pipeline, the ``kore_*base`` models and the CRM push have realistic input:

- one JSONL file per entity, ``<out_dir>/<entity_snake>.jsonl`` (``DealSheet`` -> ``deal_sheet``),
  one JSON object per line, plus ``manifest.json`` (as_of, generation, per-file rows and sha256);
- every row has ``id`` (the app's integer identity, unique per entity), ``name``, ``created_at``,
  ``modified_at`` (``YYYY-MM-DD HH:MM:SS``, strictly before ``as_of``), one ``<parent_snake>_id`` per
  registry prerequisite the entity has (a foreign key to that entity's ``id``), then attributes.
  Date/time columns end in ``_date`` or ``_at`` and are text, so no reader guesses their type.
- CRM references are held as the KORE app holds them: contacts/accounts by the Archtics account id
  (``acct_id``, the ticketing account the deal or touchpoint is for; the dedup mapping
  ``kore_dedup.account_contact_map`` turns it into the CRM contact/account keys downstream), and
  CRM users (deal owners, goal owners) by the user's e-mail (``owner_user_email``); the
  ``kore_*base`` models turn it into the user's CRM id through ``kore.SyncedUsers``.

:func:`generate` writes a first snapshot; :func:`mutate` moves the app forward in time (edits some
rows, moving their ``modified_at``, and adds new deals/touchpoints), so incremental landing and
"only changed rows are pushed" can be exercised. Both are deterministic for a given seed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from kore.contracts.crm_names import entity_snake
from kore.contracts.kore_apps import COMMON, ENTITIES, SPEC, Field, columns, foreign_keys  # noqa: F401

TS_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_AS_OF = datetime(2026, 10, 1, 12, 0, 0)  # the sandbox Archtics export cutoff (T0)
# Archtics account ids of the sandbox ticketing data when the caller does not pass the real ones.
DEFAULT_ACCT_ID_START = 1_000_001
MANIFEST = "manifest.json"
FORMAT_VERSION = 1

Row = dict[str, Any]


REPS = [
    ("Jordan", "Ellis"),
    ("Morgan", "Reyes"),
    ("Casey", "Nguyen"),
    ("Taylor", "Brooks"),
    ("Riley", "Patel"),
    ("Avery", "Chen"),
    ("Quinn", "Murphy"),
    ("Drew", "Kowalski"),
]
REP_EMAILS = [f"{f.lower()}.{last.lower()}@club.example.com" for f, last in REPS]


def _ts(d: datetime) -> str:
    return d.strftime(TS_FORMAT)


def _parse_ts(s: str) -> datetime:
    return datetime.strptime(s, TS_FORMAT)


class _App:
    """The app's tables in memory while generating: rows per entity and the next identity value."""

    def __init__(
        self,
        rng: random.Random,
        fake: Faker,
        acct_ids: Sequence[int],
        t_from: datetime,
        t_to: datetime,
        owners: Sequence[str] = tuple(REP_EMAILS),
    ):
        self.owners = list(owners)
        self.rng = rng
        self.fake = fake
        self.acct_ids = list(acct_ids)
        self.t_from = t_from
        self.t_to = t_to
        self.rows: dict[str, list[Row]] = {e: [] for e in ENTITIES}
        self.next_id: dict[str, int] = {e: 1 for e in ENTITIES}

    def stamp(self, after: str | None = None) -> tuple[str, str]:
        """created_at/modified_at inside the generation window (children after their parent)."""
        lo = max(self.t_from, _parse_ts(after)) if after else self.t_from
        span = max(1, int((self.t_to - lo).total_seconds()) - 1)
        created = lo + timedelta(seconds=self.rng.randrange(span))
        span2 = max(1, int((self.t_to - created).total_seconds()) - 1)
        modified = created + timedelta(seconds=self.rng.randrange(span2) if self.rng.random() < 0.4 else 0)
        return _ts(created), _ts(modified)

    def add(self, entity: str, name: str, after: str | None = None, **values: Any) -> Row:
        created, modified = self.stamp(after)
        row: Row = {"id": self.next_id[entity], "name": name}
        for f in SPEC[entity]:
            row[f.name] = values.get(f.name)
        row["created_at"], row["modified_at"] = created, modified
        unknown = set(values) - {f.name for f in SPEC[entity]}
        if unknown:
            raise ValueError(f"{entity}: unknown columns {sorted(unknown)}")
        self.next_id[entity] += 1
        self.rows[entity].append(row)
        return row

    def pick(self, entity: str, where: Callable[[Row], bool] | None = None) -> Row:
        rows = [r for r in self.rows[entity] if where is None or where(r)]
        return self.rng.choice(rows)

    def acct(self) -> int:
        return self.rng.choice(self.acct_ids)

    def money(self, lo: float, hi: float, step: int = 50) -> float:
        return float(round(self.rng.uniform(lo, hi) / step) * step)


# ---------------------------------------------------------------------------------------------------
# Reference data (small, fixed lists the app's admins maintain)
# ---------------------------------------------------------------------------------------------------
def _reference(app: _App, as_of: datetime) -> None:
    first_year = as_of.year - 2 if as_of.month >= 7 else as_of.year - 3
    for i, y in enumerate(range(first_year, first_year + 3)):
        app.add(
            "Season",
            f"{y}-{str(y + 1)[2:]} Season",
            season_year=y,
            start_date=f"{y}-09-15",
            end_date=f"{y + 1}-06-30",
            is_current=1 if i == 2 else 0,
        )
    for i, (n, po) in enumerate(
        [("Regular Season", 0), ("Preseason", 0), ("Playoffs Round 1", 1), ("Playoffs Round 2", 1)]
    ):
        app.add("Round", n, sort_order=i + 1, is_playoff=po)
    for n, c in [
        ("Corporate Partnerships", "CP"),
        ("Premium Sales", "PS"),
        ("Group Sales", "GS"),
        ("Community Relations", "CR"),
    ]:
        app.add("Division", n, code=c)
    for n, d in [("Standard 2023", "2023-07-01"), ("Standard 2024", "2024-07-01"), ("Playoff Pricing", "2025-03-01")]:
        app.add("PriceList", n, currency_code="USD", effective_date=d)
    for i, (n, fin) in enumerate(
        [("Draft", 0), ("Pending Approval", 0), ("Approved", 1), ("Rejected", 1), ("Signed", 1)]
    ):
        app.add("ApprovalStatus", n, sort_order=i + 1, is_final=fin)
    for n in [
        "Signage",
        "Digital",
        "Hospitality",
        "Broadcast",
        "Naming Rights",
        "Promotions",
        "Community",
        "Social Media",
    ]:
        app.add("Category", n, description=f"{n} assets")
    for n, k, d in [("Net 30", 1, 30), ("Quarterly", 4, 15), ("Annual in advance", 1, 0), ("Monthly", 12, 10)]:
        app.add("PaymentOption", n, installments=k, days_until_due=d)
    for n, p in [("A - Committed", 90), ("B - Likely", 60), ("C - Possible", 30), ("D - Long shot", 10)]:
        app.add("DealRating", n, probability_pct=p)
    products = [
        ("LED Ribbon Board", "Signage", "30 sec"),
        ("Dasher Board", "Signage", "season"),
        ("Concourse Banner", "Signage", "season"),
        ("Website Banner", "Digital", "impressions"),
        ("Mobile App Sponsor", "Digital", "season"),
        ("Hospitality Night", "Hospitality", "event"),
        ("Radio Spot", "Broadcast", "30 sec"),
        ("TV Billboard", "Broadcast", "spot"),
        ("Entrance Naming", "Naming Rights", "season"),
        ("Giveaway Night", "Promotions", "event"),
        ("Youth Clinic", "Community", "event"),
        ("Social Post Series", "Social Media", "post"),
    ]
    for n, cat, uom in products:
        app.add(
            "Product", n, category_id=app.pick("Category", lambda r, c=cat: r["name"] == c)["id"], unit_of_measure=uom
        )
    for i, n in enumerate(["New Business", "Renewal", "Upsell", "Trade"]):
        app.add(
            "DealType",
            n,
            payment_option_id=app.rows["PaymentOption"][i % 4]["id"],
            is_renewal=1 if n == "Renewal" else 0,
        )
    for n, t in [("Suite", 1), ("Loge Box", 1), ("Club Seats", 0), ("Party Suite", 1), ("Courtside", 0)]:
        app.add("SectionType", n, is_suite=t)
    for n, t in [("Tier A", "A"), ("Tier B", "B"), ("Tier C", "C"), ("Marquee", "A+")]:
        app.add("EventClassification", n, tier=t)
    for n, p in [
        ("Parking Pass", 1500.0),
        ("Catering Package", 6000.0),
        ("Wine Locker", 2500.0),
        ("Extra Tickets (4)", 3200.0),
        ("Concert Access", 4000.0),
        ("Private Chef Night", 5000.0),
    ]:
        app.add("PremiumAddon", n, price=p)
    for n, pct in [
        ("Food & Beverage Minimum", 0),
        ("Ticket Fee", 0),
        ("Service Charge", 1),
        ("Sales Tax", 1),
        ("Maintenance Fee", 0),
    ]:
        app.add("PremiumFeeType", n, is_percentage=pct)
    for n, u in [
        ("Full Season Lease", "season"),
        ("Half Season Lease", "season"),
        ("Single Event Rental", "event"),
        ("Multi-Year Lease", "year"),
    ]:
        app.add("PremiumDealType", n, term_unit=u)


# ---------------------------------------------------------------------------------------------------
# Inventory, venue and events
# ---------------------------------------------------------------------------------------------------
def _inventory(app: _App, accounts: int) -> None:
    seasons = app.rows["Season"]
    n_items = max(15, min(150, accounts // 25))
    for i in range(n_items):
        prod = app.rng.choice(app.rows["Product"])
        div = app.pick("Division", lambda r: r["code"] in ("CP", "GS", "CR"))
        item = app.add(
            "InventoryItem",
            f"{prod['name']} #{i + 1:03d}",
            product_id=prod["id"],
            category_id=prod["category_id"],
            division_id=div["id"],
            quantity_available=app.rng.randint(1, 40),
            unit_cost=app.money(200, 20000),
            status=app.rng.choice(["Active", "Active", "Active", "Retired"]),
        )
        for s in seasons[1:]:
            qty = app.rng.randint(1, 40)
            app.add(
                "InventoryItemSeason",
                f"{item['name']} {s['name']}",
                after=item["created_at"],
                inventory_item_id=item["id"],
                season_id=s["id"],
                quantity=qty,
                quantity_sold=app.rng.randint(0, qty),
            )
            app.add(
                "RateCard",
                f"{item['name']} {s['name']} rate",
                after=item["created_at"],
                inventory_item_id=item["id"],
                season_id=s["id"],
                rate=app.money(500, 50000),
                rate_type=app.rng.choice(["Per Unit", "Flat", "Per Event"]),
            )
    for s in seasons[1:]:
        for div in app.rows["Division"]:
            for cat in app.rng.sample(app.rows["Category"], 3):
                app.add(
                    "SalesGoal",
                    f"{div['code']} {cat['name']} {s['name']}",
                    category_id=cat["id"],
                    division_id=div["id"],
                    season_id=s["id"],
                    owner_user_email=app.rng.choice(app.owners),
                    goal_amount=app.money(50000, 2000000, 1000),
                )


def _venue(app: _App, accounts: int) -> None:
    types = {r["name"]: r for r in app.rows["SectionType"]}
    sections = []
    for lvl, tname, n in [
        ("Suite Level", "Suite", 3),
        ("Suite Level", "Party Suite", 1),
        ("Loge", "Loge Box", 2),
        ("Club Level", "Club Seats", 2),
        ("Floor", "Courtside", 1),
    ]:
        for _ in range(n):
            sections.append(
                app.add(
                    "Section",
                    f"{tname} Section {len(sections) + 101}",
                    section_type_id=types[tname]["id"],
                    level_name=lvl,
                    capacity=app.rng.randint(40, 400),
                )
            )
    suite_sections = [s for s in sections if types_by_id(app)[s["section_type_id"]]["is_suite"] == 1]
    n_suites = max(8, min(80, accounts // 25))
    for i in range(n_suites):
        sec = suite_sections[i % len(suite_sections)]
        suite = app.add(
            "Suite",
            f"Suite {200 + i + 1}",
            section_id=sec["id"],
            capacity=app.rng.choice([8, 12, 16, 20]),
            square_feet=app.rng.randint(300, 1200),
        )
        for k in range(min(suite["capacity"], 12)):
            app.add(
                "Seat",
                f"{suite['name']} Seat {k + 1}",
                section_id=sec["id"],
                suite_id=suite["id"],
                row_name="S",
                seat_number=k + 1,
            )
    for sec in sections:
        if types_by_id(app)[sec["section_type_id"]]["is_suite"] == 0:
            for k in range(16):
                row = "ABCD"[k // 4]
                app.add(
                    "Seat",
                    f"{sec['name']} Row {row} Seat {k % 4 + 1}",
                    section_id=sec["id"],
                    suite_id=None,
                    row_name=row,
                    seat_number=k % 4 + 1,
                )
    for s in app.rows["Season"][1:]:
        for sec in sections:
            rc = app.add(
                "SectionRatecard",
                f"{sec['name']} {s['name']}",
                section_id=sec["id"],
                season_id=s["id"],
                price_per_seat=app.money(2000, 25000),
                min_term_years=app.rng.choice([1, 1, 3, 5]),
            )
            for ft in app.rng.sample(app.rows["PremiumFeeType"], app.rng.randint(1, 3)):
                app.add(
                    "SectionRatecardFee",
                    f"{rc['name']} {ft['name']}",
                    section_ratecard_id=rc["id"],
                    premium_fee_type_id=ft["id"],
                    amount=app.money(100, 5000) if not ft["is_percentage"] else float(app.rng.choice([5, 8, 10, 18])),
                )


def types_by_id(app: _App) -> dict[int, Row]:
    return {r["id"]: r for r in app.rows["SectionType"]}


def _events(app: _App) -> None:
    opponents = [
        "Rivertown Hawks",
        "Bay City Comets",
        "Northside Bears",
        "Capital Kings",
        "Lakeshore Lions",
        "Mountain Rams",
        "Harbor Sharks",
        "Prairie Wolves",
    ]
    regular = app.pick("Round", lambda r: r["name"] == "Regular Season")
    playoffs = [r for r in app.rows["Round"] if r["is_playoff"] == 1]
    div = app.pick("Division", lambda r: r["code"] == "PS")
    for s in app.rows["Season"]:
        start = datetime.strptime(s["start_date"], "%Y-%m-%d") + timedelta(days=20)
        pl = app.rows["PriceList"][min(len(app.rows["PriceList"]) - 2, s["id"] - 1)]
        for g in range(12):
            d = start + timedelta(days=14 * g)
            opp = opponents[(g + s["id"]) % len(opponents)]
            app.add(
                "Event2",
                f"vs {opp} {d:%Y-%m-%d}",
                season_id=s["id"],
                round_id=regular["id"],
                division_id=div["id"],
                price_list_id=pl["id"],
                event_date=f"{d:%Y-%m-%d}",
                opponent=opp,
                venue="Main Arena",
                archtics_event_code=f"{str(s['season_year'])[2:]}G{g + 1:02d}",
            )
        for k, rnd in enumerate(playoffs):
            d = start + timedelta(days=14 * 12 + 10 * (k + 1))
            opp = app.rng.choice(opponents)
            app.add(
                "Event2",
                f"Playoffs vs {opp} {d:%Y-%m-%d}",
                season_id=s["id"],
                round_id=rnd["id"],
                division_id=div["id"],
                price_list_id=app.rows["PriceList"][-1]["id"],
                event_date=f"{d:%Y-%m-%d}",
                opponent=opp,
                venue="Main Arena",
                archtics_event_code=f"{str(s['season_year'])[2:]}P{k + 1:02d}",
            )


# ---------------------------------------------------------------------------------------------------
# Transactions: deals, premium deals, billing, goals, touchpoints
# ---------------------------------------------------------------------------------------------------
def _deal_sheet(app: _App) -> None:
    season = app.rng.choice(app.rows["Season"][1:])
    seasons = [s for s in app.rows["Season"] if s["id"] >= season["id"]][: app.rng.randint(1, 2)]
    status = app.rng.choice(app.rows["ApprovalStatus"])
    dtype = app.rng.choice(app.rows["DealType"])
    company = app.fake.company()
    ds = app.add(
        "DealSheet",
        f"{company} {season['name']} Partnership",
        season_id=season["id"],
        payment_option_id=dtype["payment_option_id"]
        if app.rng.random() < 0.7
        else app.rng.choice(app.rows["PaymentOption"])["id"],
        approval_status_id=status["id"],
        deal_type_id=dtype["id"],
        deal_rating_id=app.rng.choice(app.rows["DealRating"])["id"],
        acct_id=app.acct(),
        owner_user_email=app.rng.choice(app.owners),
        total_value=0.0,
        start_date=season["start_date"],
        end_date=seasons[-1]["end_date"],
        signed_date=None,
        status="Signed" if status["name"] == "Signed" else "Open",
    )
    if ds["status"] == "Signed":
        ds["signed_date"] = ds["created_at"][:10]
    total = 0.0
    for s in seasons:
        season_total = 0.0
        for _ in range(app.rng.randint(2, 5)):
            rc = app.pick("RateCard", lambda r, sid=s["id"]: r["season_id"] == sid)
            item = app.rows["InventoryItem"][rc["inventory_item_id"] - 1]
            qty = app.rng.randint(1, 10)
            disc = float(app.rng.choice([0, 0, 5, 10, 15]))
            line_total = round(qty * rc["rate"] * (1 - disc / 100), 2)
            season_total += line_total
            app.add(
                "DealLine",
                f"{item['name']} x{qty}",
                after=ds["created_at"],
                deal_sheet_id=ds["id"],
                season_id=s["id"],
                inventory_item_id=item["id"],
                rate_card_id=rc["id"],
                quantity=qty,
                unit_price=rc["rate"],
                discount_pct=disc,
                line_total=line_total,
            )
        app.add(
            "DealSeason",
            f"{ds['name']} / {s['name']}",
            after=ds["created_at"],
            deal_sheet_id=ds["id"],
            season_id=s["id"],
            contract_value=round(season_total, 2),
        )
        total += season_total
        _bills(app, "deal_sheet_id", ds, s, season_total)
    ds["total_value"] = round(total, 2)
    for role in app.rng.sample(
        ["Decision Maker", "Billing Contact", "Hospitality Contact", "Marketing Contact"], app.rng.randint(1, 3)
    ):
        app.add(
            "RosterRelationship",
            f"{role} - {ds['name']}",
            after=ds["created_at"],
            deal_sheet_id=ds["id"],
            acct_id=app.acct(),
            role=role,
        )


def _bills(app: _App, key: str, parent: Row, season: Row, amount: float) -> None:
    po_id = parent.get("payment_option_id") or 1
    n = app.rows["PaymentOption"][po_id - 1]["installments"] if key == "deal_sheet_id" else app.rng.choice([1, 2, 4])
    n = min(n, 4)
    regular = app.rows["Round"][0]
    start = datetime.strptime(season["start_date"], "%Y-%m-%d")
    for k in range(n):
        inv = f"INV-{'S' if key == 'deal_sheet_id' else 'P'}{parent['id']:05d}-{season['season_year']}-{k + 1}"
        amt = round(amount / n, 2)
        paid = amt if app.rng.random() < 0.6 else 0.0
        app.add(
            "Billing",
            inv,
            after=parent["created_at"],
            deal_sheet_id=parent["id"] if key == "deal_sheet_id" else None,
            premium_deal_id=parent["id"] if key == "premium_deal_id" else None,
            season_id=season["id"],
            round_id=regular["id"],
            invoice_number=inv,
            due_date=f"{start + timedelta(days=90 * k):%Y-%m-%d}",
            amount=amt,
            paid_amount=paid,
            status="Paid" if paid else "Open",
        )


def _premium_deal(app: _App, suite: Row) -> None:
    season = app.rng.choice(app.rows["Season"][1:])
    dtype = app.rng.choice(app.rows["PremiumDealType"])
    term = 3 if dtype["name"] == "Multi-Year Lease" else 1
    seasons = [s for s in app.rows["Season"] if s["id"] >= season["id"]][:term]
    annual = app.money(60000, 400000, 1000)
    pd_ = app.add(
        "PremiumDeal",
        f"{suite['name']} {dtype['name']} {season['name']}",
        premium_deal_type_id=dtype["id"],
        season_id=season["id"],
        suite_id=suite["id"],
        acct_id=app.acct(),
        owner_user_email=app.rng.choice(app.owners),
        term_years=term,
        annual_value=annual,
        signed_date=season["start_date"] if app.rng.random() < 0.8 else None,
        status=app.rng.choice(["Signed", "Signed", "Signed", "Pending"]),
    )
    for addon in app.rng.sample(app.rows["PremiumAddon"], app.rng.randint(0, 3)):
        app.add(
            "PremiumDealAddon",
            f"{pd_['name']} + {addon['name']}",
            after=pd_["created_at"],
            premium_deal_id=pd_["id"],
            premium_addon_id=addon["id"],
            quantity=app.rng.randint(1, 4),
            price=addon["price"],
        )
    seats = [r for r in app.rows["Seat"] if r["suite_id"] == suite["id"]]
    for seat in app.rng.sample(seats, min(len(seats), app.rng.randint(1, 4))):
        app.add(
            "PremiumDealAllocation",
            f"{pd_['name']} {seat['name']}",
            after=pd_["created_at"],
            premium_deal_id=pd_["id"],
            suite_id=suite["id"],
            seat_id=seat["id"],
            allocation_type=app.rng.choice(["Primary", "Guest", "Parking"]),
        )
    for k, s in enumerate(seasons):
        cy = app.add(
            "PremiumDealContractYear",
            f"{pd_['name']} year {k + 1}",
            after=pd_["created_at"],
            premium_deal_id=pd_["id"],
            season_id=s["id"],
            contract_year=k + 1,
            year_value=round(annual * (1.03**k), 2),
        )
        for ft in app.rng.sample(app.rows["PremiumFeeType"], app.rng.randint(1, 3)):
            app.add(
                "PremiumDealContractYearFee",
                f"{cy['name']} {ft['name']}",
                after=pd_["created_at"],
                premium_deal_contract_year_id=cy["id"],
                premium_fee_type_id=ft["id"],
                amount=app.money(500, 15000) if not ft["is_percentage"] else float(app.rng.choice([5, 8, 18])),
            )
        _bills(app, "premium_deal_id", pd_, s, cy["year_value"])
    events = [e for e in app.rows["Event2"] if e["season_id"] == season["id"]]
    for ev in app.rng.sample(events, min(len(events), app.rng.randint(3, 8))):
        _premium_deal_event(app, pd_, ev)


def _premium_deal_event(app: _App, pd_: Row, ev: Row) -> None:
    app.add(
        "PremiumDealEvent",
        f"{pd_['name']} @ {ev['name']}",
        after=pd_["created_at"],
        premium_deal_id=pd_["id"],
        event2_id=ev["id"],
        event_classification_id=app.rng.choice(app.rows["EventClassification"])["id"],
        tickets_used=app.rng.randint(0, 16),
    )


def _goals(app: _App) -> None:
    for s in app.rows["Season"][1:]:
        for div in app.rows["Division"][:2]:
            for dt in app.rows["PremiumDealType"]:
                app.add(
                    "PremiumSalesGoal",
                    f"{div['code']} {dt['name']} {s['name']}",
                    season_id=s["id"],
                    division_id=div["id"],
                    premium_deal_type_id=dt["id"],
                    owner_user_email=app.rng.choice(app.owners),
                    goal_amount=app.money(100000, 3000000, 1000),
                )
        for email in app.owners:
            tt = app.rng.choice(["Call", "Visit", "Gift", "Event Invitation"])
            app.add(
                "TouchpointGoal",
                f"{email.split('@')[0]} {tt} {s['name']}",
                season_id=s["id"],
                owner_user_email=email,
                touchpoint_type=tt,
                goal_count=app.rng.randint(20, 200),
            )


def _touchpoint(app: _App) -> None:
    goal = app.rng.choice(app.rows["TouchpointGoal"])
    created, _ = app.stamp()
    app.add(
        "Touchpoint2",
        f"{goal['touchpoint_type']} {created[:10]}",
        touchpoint_goal_id=goal["id"],
        acct_id=app.acct(),
        touchpoint_type=goal["touchpoint_type"],
        occurred_at=created,
        outcome=app.rng.choice(["Completed", "Completed", "No Answer", "Follow-up Needed", "Declined"]),
    )


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------
def _write(out_dir: Path, app: _App, meta: dict[str, Any]) -> dict[str, Any]:
    """Write every entity's JSONL and the manifest, each through a temp file + rename (no torn files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for entity in ENTITIES:
        rows = sorted(app.rows[entity], key=lambda r: r["id"])
        data = "".join(json.dumps(r, sort_keys=False, separators=(",", ":")) + "\n" for r in rows).encode()
        path = out_dir / f"{entity_snake(entity)}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        files.append(
            {
                "entity": entity,
                "columns": [{"name": f.name, "type": f.kind} for f in columns(entity)],
                "path": path.name,
                "rows": len(rows),
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        )
    manifest = {"format_version": FORMAT_VERSION, "source": "kore_apps", **meta, "files": files}
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    return manifest


def read_manifest(out_dir: Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))


def read_rows(out_dir: Path, entity: str) -> list[Row]:
    """The rows of one entity file (for tests and :func:`mutate`)."""
    path = Path(out_dir) / f"{entity_snake(entity)}.jsonl"
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _summary(manifest: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = {f["entity"]: f["rows"] for f in manifest["files"]}
    return {
        "as_of": manifest["as_of"],
        "generation": manifest["generation"],
        "entities": len(rows),
        "rows": sum(rows.values()),
        "rows_total": sum(rows.values()),
        "rows_per_entity": rows,
        **(extra or {}),
    }


def generate(
    out_dir: Path,
    seed: int = 42,
    accounts: int = 1000,
    as_of: datetime | None = None,
    acct_ids: Sequence[int] | None = None,
    owner_emails: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write a first snapshot of the KORE apps' database (every file replaced). Returns counts.

    ``acct_ids``: the Archtics account ids deals and touchpoints may be for, so the CRM references
    resolve through the dedup mapping. ``owner_emails``: the CRM users who own deals and goals.
    When not given they are read from the sandbox ticketing data next to ``out_dir`` (the Archtics
    generator's ``ground_truth.csv``, accounts in the static export, and ``crm_seed/users.jsonl``),
    else ``accounts`` ids from ``DEFAULT_ACCT_ID_START`` and a fixed list of sales reps.
    """
    out_dir = Path(out_dir)
    as_of = as_of or DEFAULT_AS_OF
    if acct_ids is None:
        acct_ids = sibling_acct_ids(out_dir.parent) or range(DEFAULT_ACCT_ID_START, DEFAULT_ACCT_ID_START + accounts)
    ids = list(acct_ids)
    owners = list(owner_emails) if owner_emails is not None else (sibling_owner_emails(out_dir.parent) or REP_EMAILS)
    if not ids or not owners:
        raise ValueError("acct_ids and owner_emails must not be empty")
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    app = _App(rng, fake, ids, as_of - timedelta(days=420), as_of, owners)
    _reference(app, as_of)
    _inventory(app, accounts)
    _venue(app, accounts)
    _events(app)
    _goals(app)
    for _ in range(max(5, accounts // 15)):
        _deal_sheet(app)
    suites = list(app.rows["Suite"])
    rng.shuffle(suites)
    for suite in suites[: max(3, min(len(suites), accounts // 40))]:
        _premium_deal(app, suite)
    for _ in range(max(10, accounts // 2)):
        _touchpoint(app)
    manifest = _write(
        out_dir,
        app,
        {
            "as_of": _ts(as_of),
            "generation": 1,
            "seed": seed,
            "accounts": accounts,
            "acct_id_ranges": _ranges(ids),
            "owner_emails": owners,
        },
    )
    return _summary(manifest)


def sibling_acct_ids(sandbox_dir: Path) -> list[int]:
    """Archtics account ids in the sandbox's static export (``ground_truth.csv``), if it is there."""
    path = Path(sandbox_dir) / "ground_truth.csv"
    if not path.exists():
        return []
    ids: set[int] = set()
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rid = row.get("record_id") or ""
            if rid.startswith("A:") and row.get("origin", "export") == "export":
                ids.add(int(rid.split(":")[1]))
    return sorted(ids)


def sibling_owner_emails(sandbox_dir: Path) -> list[str]:
    """E-mails of the sandbox CRM's users (``crm_seed/users.jsonl``), if it is there."""
    path = Path(sandbox_dir) / "crm_seed" / "users.jsonl"
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        emails = [json.loads(line).get("email") for line in fh if line.strip()]
    return sorted({e.lower() for e in emails if e})


def _ranges(ids: Sequence[int]) -> list[list[int]]:
    """Compress account ids to [first, last] runs so the manifest stays small and mutate can reuse them."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _expand_ranges(ranges: list[list[int]]) -> list[int]:
    return [i for lo, hi in ranges for i in range(lo, hi + 1)]


def _load(
    out_dir: Path,
    rng: random.Random,
    fake: Faker,
    acct_ids: Sequence[int],
    t_from: datetime,
    t_to: datetime,
    owners: Sequence[str],
) -> _App:
    app = _App(rng, fake, acct_ids, t_from, t_to, owners)
    for entity in ENTITIES:
        app.rows[entity] = read_rows(out_dir, entity)
        app.next_id[entity] = max((r["id"] for r in app.rows[entity]), default=0) + 1
    return app


def _edit(app: _App, entity: str, row: Row) -> None:
    """One realistic edit: a number renegotiated, a status moved on, or a rename."""
    nums = [f.name for f in SPEC[entity] if f.kind == "num" and row.get(f.name) is not None]
    if "status" in row and app.rng.random() < 0.5:
        choices = {
            "DealSheet": ["Open", "Signed", "Cancelled"],
            "PremiumDeal": ["Pending", "Signed", "Cancelled"],
            "Billing": ["Open", "Paid", "Overdue"],
            "InventoryItem": ["Active", "Retired"],
        }[entity]
        row["status"] = app.rng.choice([c for c in choices if c != row["status"]])
        if entity == "Billing" and row["status"] == "Paid":
            row["paid_amount"] = row["amount"]
    elif entity == "Touchpoint2":
        row["outcome"] = app.rng.choice(
            [o for o in ["Completed", "No Answer", "Follow-up Needed"] if o != row["outcome"]]
        )
    elif nums:
        col = app.rng.choice(nums)
        row[col] = round(row[col] * app.rng.choice([0.9, 1.05, 1.1, 1.25]) + 1, 2)
    else:
        m = re.search(r" \(rev (\d+)\)$", row["name"])
        rev = int(m.group(1)) + 1 if m else 2
        row["name"] = re.sub(r" \(rev \d+\)$", "", row["name"]) + f" (rev {rev})"
    lo = _parse_ts(row["modified_at"])
    app_from = max(app.t_from, lo)
    row["modified_at"] = _ts(
        app_from + timedelta(seconds=1 + app.rng.randrange(max(1, int((app.t_to - app_from).total_seconds()) - 2)))
    )


def mutate(
    out_dir: Path,
    fraction: float = 0.05,
    seed: int | None = None,
    as_of: datetime | None = None,
    new_deals: int | None = None,
) -> dict[str, Any]:
    """Move the app forward: edit ``fraction`` of each entity's rows and add new deals and touchpoints.

    Edited and new rows get ``modified_at`` in (previous as_of, new as_of]; untouched rows keep theirs,
    so an incremental load picks up exactly the changed rows. ``as_of`` defaults to 7 days after the
    previous snapshot. Deterministic for (files, seed). Returns counts of edited/added rows per entity.
    """
    out_dir = Path(out_dir)
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    manifest = read_manifest(out_dir)
    prev = _parse_ts(manifest["as_of"])
    new_as_of = as_of or prev + timedelta(days=7)
    if new_as_of <= prev:
        raise ValueError(f"as_of {new_as_of} must be after the previous snapshot's {prev}")
    seed = manifest["seed"] if seed is None else seed
    generation = manifest["generation"] + 1
    rng = random.Random(f"{seed}-{generation}")
    fake = Faker("en_US")
    fake.seed_instance(seed * 1000 + generation)
    ids = _expand_ranges(manifest["acct_id_ranges"])
    app = _load(out_dir, rng, fake, ids, prev, new_as_of, manifest["owner_emails"])
    before = {e: len(app.rows[e]) for e in ENTITIES}
    edited: dict[str, int] = {}
    for entity in ENTITIES:
        rows = app.rows[entity]
        k = round(len(rows) * fraction)
        for row in rng.sample(rows, min(len(rows), k)):
            _edit(app, entity, row)
        edited[entity] = min(len(rows), k)
    n_deals = new_deals if new_deals is not None else max(1, round(len(app.rows["DealSheet"]) * fraction))
    for _ in range(n_deals):
        _deal_sheet(app)
    for _ in range(max(1, round(len(app.rows["Touchpoint2"]) * fraction))):
        _touchpoint(app)
    for pd_ in rng.sample(app.rows["PremiumDeal"], min(2, len(app.rows["PremiumDeal"]))):
        taken = {r["event2_id"] for r in app.rows["PremiumDealEvent"] if r["premium_deal_id"] == pd_["id"]}
        free = [e for e in app.rows["Event2"] if e["season_id"] == pd_["season_id"] and e["id"] not in taken]
        if free:
            _premium_deal_event(app, pd_, rng.choice(free))
    added = {e: len(app.rows[e]) - before[e] for e in ENTITIES}
    meta = {k: v for k, v in manifest.items() if k not in ("files", "format_version", "source")}
    manifest = _write(out_dir, app, {**meta, "as_of": _ts(new_as_of), "generation": generation})
    return _summary(
        manifest, {"edited": edited, "added": added, "changed_rows": sum(edited.values()) + sum(added.values())}
    )
