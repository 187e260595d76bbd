"""The KORE apps' inventory, venue and events: what deals sell.

Inventory items with their per-season quantities, rate cards and sales goals; the arena's sections,
suites and seats with section rate cards and their fees; each season's games (regular season and
playoffs). Built on the reference data (:mod:`sandbox.kore_app_reference`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sandbox.kore_app_tables import AppTables, Row


def add_inventory(app: AppTables, accounts: int) -> None:
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


def add_venue(app: AppTables, accounts: int) -> None:
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


def types_by_id(app: AppTables) -> dict[int, Row]:
    return {r["id"]: r for r in app.rows["SectionType"]}


def add_events(app: AppTables) -> None:
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
