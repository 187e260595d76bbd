"""Why did (or didn't) two records match? Per-field levels and weights, rule vetoes, guards, decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dedup import store
from dedup.compare import FIELDS
from dedup.engine import Scorer
from dedup.household import name_counts, renamed, renamed_both
from dedup.model import DedupConfig, Model, household, zip_in_town
from dedup.normalize import normalize_records
from kore.config import Settings
from kore.warehouse import connect


def resolve_id(records: pd.DataFrame, ident: str) -> str:
    """Accept a record id, or an Archtics account id (-> its primary name), or a CRM contact id."""
    if (records["record_id"] == ident).any():
        return ident
    acc = records[(records["acct_id"].astype(str) == ident) & (records["source"] == "archtics")]
    if len(acc):
        acc = acc.assign(_p=pd.to_numeric(acc["is_primary_name"], errors="coerce").fillna(0))
        return str(acc.sort_values("_p", ascending=False)["record_id"].iloc[0])
    crm = records[records["crm_contact_id"].astype(str) == ident]
    if len(crm):
        return str(crm["record_id"].iloc[0])
    raise KeyError(f"no record, account or CRM contact with id {ident!r}")


def explain_pair(records: pd.DataFrame, id1: str, id2: str, model: Model, cfg: DedupConfig) -> dict:
    """Score one pair with the stored model and return the field-by-field breakdown."""
    recs = normalize_records(records)
    scorer = Scorer(recs, cfg)
    pos = scorer.positions(pd.Series([id1, id2]))
    sc = scorer.score(np.array([pos[0]]), np.array([pos[1]]), model).iloc[0]
    fields = []
    for spec in FIELDS:
        lvl = int(sc[spec.name + "_level"])
        m = None if lvl < 0 else float(model.m[spec.name][lvl])
        u = None if lvl < 0 else float(model.u[spec.name][lvl])
        # a ZIP within one town is weighed by its u among that town's unrelated people
        in_town = spec.name == "zip5" and bool(zip_in_town(np.array([sc["city_level"]]), np.array([lvl]), model)[0])
        if in_town:
            u = float(model.u_zip_in_town[lvl])
        fields.append(
            {
                "field": spec.name,
                "level": "missing" if lvl < 0 else spec.levels[lvl],
                "m": m,
                "u": u,
                "weight": float(sc[spec.name + "_weight"]),
                **({"u_among": "people of one town"} if in_town else {}),
            }
        )
    levels = {spec.name: np.array([int(sc[spec.name + "_level"])]) for spec in FIELDS}
    counts = name_counts(scorer.tf["first_name"], model.records)[pos]
    odds = float(sc["log2_odds"])
    return {
        "household": bool(household(levels, counts[:1], counts[1:], cfg.household_name_min_count)[0]),
        "household_weight": cfg.household_weight,
        # one first name at one address, another surname: the fitted odds of that context (if fitted)
        "renamed_log2_odds": float(model.renamed_odds[0]) if len(model.renamed_odds) and renamed(levels)[0] else None,
        # both names different at one address: the fitted odds of that context (if fitted)
        "renamed_both_log2_odds": (
            float(model.renamed_both_odds[0]) if len(model.renamed_both_odds) and renamed_both(levels)[0] else None
        ),
        "match_probability": round(float(1.0 / (1.0 + 2.0 ** (-odds))), 6),
        "record_id_l": id1,
        "record_id_r": id2,
        "weight": float(sc["weight"]),
        "log2_odds": float(sc["log2_odds"]),
        "prior_log2_odds": model.prior_log2,
        "decision": str(sc["decision"]),
        "veto": str(sc["veto"]),
        "fields": fields,
        "thresholds": {"match": cfg.match_threshold, "possible": cfg.possible_threshold},
    }


def explain(settings: Settings, id1: str, id2: str, cfg: DedupConfig | None = None) -> dict:
    """Explain the pair as the last run saw it, plus clusters and manual decisions touching it."""
    cfg = cfg or DedupConfig()
    with connect(settings) as wh:
        records = store.read_records(wh)
        model_df = store.read_table(wh, "model_params")
        clusters = store.read_table(wh, "clusters")
        dec = store.decisions(wh)
        if not len(model_df):
            raise RuntimeError("no dedup run yet: run `kore dedup run` first")
        a, b = sorted([resolve_id(records, id1), resolve_id(records, id2)])
        # the last run's stored decision; None: no stored row -- never a candidate pair, or a non-match
        # that carries no evidence (``dedup.engine.carries_evidence``: pair_scores keeps only the others)
        hit = store.stored_pair(wh, a, b)
    out = explain_pair(records, a, b, Model.from_frame(model_df), cfg)
    cid = clusters.set_index("record_id")["cluster_id"] if len(clusters) else pd.Series(dtype=str)
    out["cluster_l"], out["cluster_r"] = cid.get(a), cid.get(b)
    out["same_cluster"] = out["cluster_l"] is not None and out["cluster_l"] == out["cluster_r"]
    out["stored_decision"] = None if hit.empty else str(hit["decision"].iloc[0])
    d = dec[(dec["record_id_l"] == a) & (dec["record_id_r"] == b)] if len(dec) else dec
    out["decisions"] = d[["kind", "decided_at", "decided_by"]].to_dict("records") if len(d) else []
    out["summary"] = summarise(out)
    return out


def summarise(ex: dict) -> str:
    """One sentence a person can act on."""
    why = ", ".join(f"{f['field']} {f['level']} ({f['weight']:+.1f})" for f in ex["fields"] if f["level"] != "missing")
    verdict = {
        "match": "match",
        "possible": "possible match (sent to review)",
        "non_match": "no match",
    }[ex["decision"]]
    s = (
        f"{verdict}: field weights {ex['weight']:+.1f} + prior {ex['prior_log2_odds']:+.1f} = log2-odds "
        f"{ex['log2_odds']:+.1f}, match probability {ex['match_probability']:.3f} "
        f"(match >= {ex['thresholds']['match']}, possible >= {ex['thresholds']['possible']})"
    )
    if ex.get("household"):
        s += (
            f"; household: first names differ with the same surname and address or phone "
            f"({ex['household_weight']:+.1f} in first_name, the shared phone counts 0)"
        )
    if ex.get("renamed_log2_odds") is not None:
        s += (
            f"; one first name at one address with another surname: the shared fields weigh the data's "
            f"fitted odds of a surname change ({ex['renamed_log2_odds']:+.1f} log2-odds, in last_name)"
        )
    if ex.get("renamed_both_log2_odds") is not None:
        s += (
            f"; both names different at one address: the shared fields weigh the data's fitted odds of one "
            f"person there ({ex['renamed_both_log2_odds']:+.1f} log2-odds, in last_name)"
        )
    if ex.get("veto"):
        s += f"; rule veto: {ex['veto']}"
    s += f"; {why}"
    if ex.get("decisions"):
        s += f"; manual decision: {ex['decisions'][-1]['kind']}"
    if "same_cluster" in ex:
        s += "; same cluster" if ex["same_cluster"] else "; different clusters"
    return s
