"""The KORE apps' transactions: deal sheets, premium deals, billing, goals and touchpoints.

Deals and touchpoints are for Archtics accounts (``acct_id``) and owned by CRM users (their
e-mail), as the app holds them; see :mod:`sandbox.kore_apps` for why. Used both for the first
snapshot and for the new rows :func:`sandbox.kore_apps.mutate` adds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sandbox.kore_app_tables import AppTables, Row


def add_deal_sheet(app: AppTables) -> None:
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


def _bills(app: AppTables, key: str, parent: Row, season: Row, amount: float) -> None:
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


def add_premium_deal(app: AppTables, suite: Row) -> None:
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
        add_premium_deal_event(app, pd_, ev)


def add_premium_deal_event(app: AppTables, pd_: Row, ev: Row) -> None:
    app.add(
        "PremiumDealEvent",
        f"{pd_['name']} @ {ev['name']}",
        after=pd_["created_at"],
        premium_deal_id=pd_["id"],
        event2_id=ev["id"],
        event_classification_id=app.rng.choice(app.rows["EventClassification"])["id"],
        tickets_used=app.rng.randint(0, 16),
    )


def add_goals(app: AppTables) -> None:
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


def add_touchpoint(app: AppTables) -> None:
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
