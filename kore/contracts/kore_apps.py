"""The KORE apps' table layout: one definition for the landing, the ``kore_*base`` models and the sandbox.

The KORE apps (Sponsorship, Suites & Premium, Ticketing & Fan Engagement) are the source of truth for
the registry's ``kore_to_crm`` entities. Their database export is one JSONL file per entity,
``<entity_snake>.jsonl``; every row has ``id`` (the app's integer identity), ``name``, ``created_at``,
``modified_at``, one ``<parent_snake>_id`` per registry prerequisite (a foreign key to that entity's
``id``), then attributes. CRM references are held as the apps hold them: contacts/accounts by the
Archtics account id (``acct_id``), CRM users by e-mail (``owner_user_email``).

The production ``kore_*base`` models are generated from :data:`SPEC`
(``dbt_project/scripts/generate_kore_app_models.py``); the sandbox writes files in this layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from kore.contracts.crm_names import entity_snake


@dataclass(frozen=True)
class Field:
    """One column of an app table. ``ref`` names the parent entity of an FK, or ``crm:<Entity>``."""

    name: str
    kind: str  # int | num | text | date | ts
    ref: str = ""


def _fk(entity: str) -> Field:
    return Field(f"{entity_snake(entity)}_id", "int", entity)


ACCT = Field("acct_id", "int", "crm:Account;Contact")
OWNER = Field("owner_user_email", "text", "crm:User")

# Columns of every app table beyond id, name, created_at, modified_at. FK fields follow the
# registry prerequisites (checked by the tests); ``acct_id``/``owner_user_email`` carry CRM references.
SPEC: dict[str, list[Field]] = {
    # ---- Sponsorship & Fan Engagement
    "Season": [
        Field("season_year", "int"),
        Field("start_date", "date"),
        Field("end_date", "date"),
        Field("is_current", "int"),
    ],
    "Round": [Field("sort_order", "int"), Field("is_playoff", "int")],
    "Division": [Field("code", "text")],
    "PriceList": [Field("currency_code", "text"), Field("effective_date", "date")],
    "ApprovalStatus": [Field("sort_order", "int"), Field("is_final", "int")],
    "Category": [Field("description", "text")],
    "PaymentOption": [Field("installments", "int"), Field("days_until_due", "int")],
    "DealRating": [Field("probability_pct", "int")],
    "Product": [_fk("Category"), Field("unit_of_measure", "text")],
    "DealType": [_fk("PaymentOption"), Field("is_renewal", "int")],
    "InventoryItem": [
        _fk("Product"),
        _fk("Category"),
        _fk("Division"),
        Field("quantity_available", "int"),
        Field("unit_cost", "num"),
        Field("status", "text"),
    ],
    "SalesGoal": [_fk("Category"), _fk("Division"), _fk("Season"), OWNER, Field("goal_amount", "num")],
    "InventoryItemSeason": [
        _fk("InventoryItem"),
        _fk("Season"),
        Field("quantity", "int"),
        Field("quantity_sold", "int"),
    ],
    "RateCard": [_fk("InventoryItem"), _fk("Season"), Field("rate", "num"), Field("rate_type", "text")],
    "Event2": [
        _fk("Season"),
        _fk("Round"),
        _fk("Division"),
        _fk("PriceList"),
        Field("event_date", "date"),
        Field("opponent", "text"),
        Field("venue", "text"),
        Field("archtics_event_code", "text"),
    ],
    "DealSheet": [
        _fk("Season"),
        _fk("PaymentOption"),
        _fk("ApprovalStatus"),
        _fk("DealType"),
        _fk("DealRating"),
        ACCT,
        OWNER,
        Field("total_value", "num"),
        Field("start_date", "date"),
        Field("end_date", "date"),
        Field("signed_date", "date"),
        Field("status", "text"),
    ],
    "DealSeason": [_fk("DealSheet"), _fk("Season"), Field("contract_value", "num")],
    "DealLine": [
        _fk("DealSheet"),
        _fk("Season"),
        _fk("InventoryItem"),
        _fk("RateCard"),
        Field("quantity", "int"),
        Field("unit_price", "num"),
        Field("discount_pct", "num"),
        Field("line_total", "num"),
    ],
    "RosterRelationship": [_fk("DealSheet"), Field("acct_id", "int", "crm:Contact"), Field("role", "text")],
    "Billing": [
        _fk("DealSheet"),
        _fk("PremiumDeal"),
        _fk("Season"),
        _fk("Round"),
        Field("invoice_number", "text"),
        Field("due_date", "date"),
        Field("amount", "num"),
        Field("paid_amount", "num"),
        Field("status", "text"),
    ],
    # ---- Suites & Premium
    "SectionType": [Field("is_suite", "int")],
    "Section": [_fk("SectionType"), Field("level_name", "text"), Field("capacity", "int")],
    "Suite": [_fk("Section"), Field("capacity", "int"), Field("square_feet", "int")],
    "Seat": [_fk("Section"), _fk("Suite"), Field("row_name", "text"), Field("seat_number", "int")],
    "EventClassification": [Field("tier", "text")],
    "PremiumAddon": [Field("price", "num")],
    "PremiumFeeType": [Field("is_percentage", "int")],
    "PremiumDealType": [Field("term_unit", "text")],
    "PremiumDeal": [
        _fk("PremiumDealType"),
        _fk("Season"),
        _fk("Suite"),
        ACCT,
        OWNER,
        Field("term_years", "int"),
        Field("annual_value", "num"),
        Field("signed_date", "date"),
        Field("status", "text"),
    ],
    "PremiumDealAddon": [_fk("PremiumDeal"), _fk("PremiumAddon"), Field("quantity", "int"), Field("price", "num")],
    "PremiumDealAllocation": [_fk("PremiumDeal"), _fk("Suite"), _fk("Seat"), Field("allocation_type", "text")],
    "PremiumDealContractYear": [
        _fk("PremiumDeal"),
        _fk("Season"),
        Field("contract_year", "int"),
        Field("year_value", "num"),
    ],
    "PremiumDealContractYearFee": [_fk("PremiumDealContractYear"), _fk("PremiumFeeType"), Field("amount", "num")],
    "PremiumDealEvent": [_fk("PremiumDeal"), _fk("Event2"), _fk("EventClassification"), Field("tickets_used", "int")],
    "PremiumSalesGoal": [_fk("Season"), _fk("Division"), _fk("PremiumDealType"), OWNER, Field("goal_amount", "num")],
    "SectionRatecard": [_fk("Section"), _fk("Season"), Field("price_per_seat", "num"), Field("min_term_years", "int")],
    "SectionRatecardFee": [_fk("SectionRatecard"), _fk("PremiumFeeType"), Field("amount", "num")],
    # ---- Ticketing & Fan Engagement (TicketPurchaseKoreps comes from Archtics tickets, not from here)
    "TouchpointGoal": [_fk("Season"), OWNER, Field("touchpoint_type", "text"), Field("goal_count", "int")],
    "Touchpoint2": [
        _fk("TouchpointGoal"),
        Field("acct_id", "int", "crm:Contact"),
        Field("touchpoint_type", "text"),
        Field("occurred_at", "ts"),
        Field("outcome", "text"),
    ],
}
ENTITIES: tuple[str, ...] = tuple(SPEC)
COMMON = [Field("id", "int"), Field("name", "text"), Field("created_at", "ts"), Field("modified_at", "ts")]


def columns(entity: str) -> list[Field]:
    """Every column of the entity's app table, in file order."""
    return COMMON[:2] + SPEC[entity] + COMMON[2:]


def foreign_keys(entity: str) -> dict[str, str]:
    """FK column -> parent entity (KORE-owned parents only)."""
    return {f.name: f.ref for f in SPEC[entity] if f.ref and not f.ref.startswith("crm:")}
