"""The KORE apps' reference data: the small, fixed lists the app's admins maintain.

Seasons, rounds, divisions, price lists, approval statuses, categories, payment options, deal
ratings, products, deal types, section types, event classifications, premium add-ons, fee types and
premium deal types: everything the inventory, venue and deals refer to. Written in this order (each
row draws its timestamps from the generator), so the output for a seed never changes.
"""

from __future__ import annotations

from datetime import datetime

from sandbox.kore_app_tables import AppTables


def add_reference(app: AppTables, as_of: datetime) -> None:
    """Every reference list, in the order the rows' timestamps are drawn."""
    _seasons_and_rounds(app, as_of)
    _sales_lists(app)
    _products_and_deal_types(app)
    _premium_lists(app)


def _seasons_and_rounds(app: AppTables, as_of: datetime) -> None:
    """Three seasons, the current one last, and the rounds of a season."""
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


def _sales_lists(app: AppTables) -> None:
    """Divisions, price lists, approval statuses, categories, payment options, deal ratings."""
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


def _products_and_deal_types(app: AppTables) -> None:
    """Sponsorship products (each in a category) and deal types (each with a payment option)."""
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


def _premium_lists(app: AppTables) -> None:
    """Section types, event classifications, premium add-ons, fee types and deal types."""
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
