"""`kore dedup ...`: run the dedup step, explain pairs, record manual decisions, file mode, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from dedup import cli_accounts, store
from dedup.explain import explain as explain_pair
from dedup.explain import resolve_id
from kore.config import get_settings
from kore.warehouse import connect

app = typer.Typer(help="Deduplication: Archtics names + CRM contacts -> contacts, accounts, mapping.")
for _name, _fn in (
    ("protect", cli_accounts.protect),
    ("unprotect", cli_accounts.unprotect),
    ("protected", cli_accounts.protected),
    ("approve-move", cli_accounts.approve_move),
    ("account-match", cli_accounts.account_match),
    ("account-review", cli_accounts.account_review),
):
    app.command(_name)(_fn)
review_app = typer.Typer(help="Possible matches waiting for a person.")
app.add_typer(review_app, name="review")
console = Console()

WORKDIR = typer.Option(None, "--workdir", help="Run folder (default: $KORE_WORKDIR or current dir)")


def _ids(workdir: Path | None, id1: str, id2: str) -> tuple[str, str]:
    settings = get_settings(workdir)
    with connect(settings) as wh:
        records = store.read_records(wh)
    try:
        a, b = resolve_id(records, id1), resolve_id(records, id2)
    except KeyError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return (a, b) if a <= b else (b, a)


@app.command()
def run(
    workdir: Path = WORKDIR,
    policy: str = typer.Option(
        "default", help="Ranking policy (dedup/ranking_policy.yml): default | most_recent | first_found"
    ),
    full: bool = typer.Option(False, "--full", help="Re-fit and re-score everything"),
) -> None:
    """Warehouse step: dedup.* views -> kore_dedup.* tables."""
    from dedup.pipeline import run_dedup

    counts = run_dedup(get_settings(workdir), policy=policy, full=full)
    table = Table("measure", "value", title="dedup")
    for k, v in counts.items():
        table.add_row(k, str(v))
    console.print(table)


@app.command()
def explain(id1: str, id2: str, workdir: Path = WORKDIR, as_json: bool = typer.Option(False, "--json")) -> None:
    """Why two records (record ids, account ids or CRM ids) did or did not match."""
    try:
        ex = explain_pair(get_settings(workdir), id1, id2)
    except KeyError as exc:  # an id that is no record, account or CRM contact (as `_ids` does)
        raise typer.BadParameter(str(exc.args[0] if exc.args else exc)) from exc
    if as_json:
        console.print_json(json.dumps(ex, default=str))
        return
    table = Table("field", "level", "m", "u", "weight", title=f"{ex['record_id_l']} vs {ex['record_id_r']}")
    for f in ex["fields"]:
        m, u = ("", "") if f["m"] is None else (f"{f['m']:.4f}", f"{f['u']:.5f}")
        level = f["level"] + (f" (u among {f['u_among']})" if f.get("u_among") else "")
        table.add_row(f["field"], level, m, u, f"{f['weight']:+.2f}")
    console.print(table)
    console.print(ex["summary"])


@app.command("set-primary")
def set_primary(
    acct_id: str,
    contact: str = typer.Option(None, "--contact", help="Contact key (default: the account's own contact)"),
    workdir: Path = WORKDIR,
) -> None:
    """Make an Archtics account the primary account of its contact (survives every later run)."""
    settings = get_settings(workdir)
    with connect(settings) as wh:
        mp = store.read_table(wh, "account_contact_map")
    if not len(mp) or not (mp["acct_id"].astype(str) == acct_id).any():
        raise typer.BadParameter(f"account {acct_id} is not in the mapping table (run `kore dedup run` first)")
    own = str(mp.loc[mp["acct_id"].astype(str) == acct_id, "crm_contact_key"].iloc[0])
    if contact and contact != own:
        raise typer.BadParameter(
            f"account {acct_id} belongs to contact {own}, not {contact}: force-match it to that contact first"
        )
    store.add_decision(settings, "set_primary", acct_id=acct_id, contact_key=own)
    console.print(f"account {acct_id} is now primary for contact {own} (applies on the next run)")


def _pair_decision(workdir: Path, kind: str, id1: str, id2: str, done: str) -> None:
    """Record a decision on a pair of records (ids as the user gave them); ``done`` formats both ids."""
    a, b = _ids(workdir, id1, id2)
    store.add_decision(get_settings(workdir), kind, a, b)
    console.print(done.format(a, b))


@app.command("force-match")
def force_match(id1: str, id2: str, workdir: Path = WORKDIR) -> None:
    """Always put these two records in one cluster."""
    _pair_decision(workdir, "force_match", id1, id2, "force-match {} ~ {} recorded")


@app.command("forbid-match")
def forbid_match(id1: str, id2: str, workdir: Path = WORKDIR) -> None:
    """Never put these two records in one cluster."""
    _pair_decision(workdir, "forbid_match", id1, id2, "forbid-match {} ~ {} recorded")


@review_app.command("list")
def review_list(workdir: Path = WORKDIR, limit: int = 50) -> None:
    """Open possible matches, strongest first."""
    with connect(get_settings(workdir)) as wh:
        q = store.read_table(wh, "review_queue")
        removed = store.removed_record_requests(wh)
    table = Table("record_id_l", "record_id_r", "weight", title=f"review queue ({len(q)})")
    if len(q):
        for r in q.sort_values("weight", ascending=False).head(limit).itertuples():
            table.add_row(r.record_id_l, r.record_id_r, f"{r.weight:.2f}")
    console.print(table)
    if len(removed):
        gone = Table(
            "acct_id", "crm_flavor", "entity", "crm_id", "reason", title=f"removed in the CRM ({len(removed)})"
        )
        for r in removed.head(limit).itertuples():
            gone.add_row(
                *(
                    str(v) if v is not None and v == v else ""
                    for v in (r.acct_id, r.crm_flavor, r.entity, r.crm_id, r.reason)
                )
            )
        console.print(gone)
        console.print("Map an account to the contact the CRM kept: kore dedup force-match ACCT_ID CRM_CONTACT_ID")


@review_app.command("accept")
def review_accept(id1: str, id2: str, workdir: Path = WORKDIR) -> None:
    """Accept a possible match (they are the same person)."""
    _pair_decision(workdir, "review_accept", id1, id2, "accepted {} ~ {}")


@review_app.command("reject")
def review_reject(id1: str, id2: str, workdir: Path = WORKDIR) -> None:
    """Reject a possible match (different people)."""
    _pair_decision(workdir, "review_reject", id1, id2, "rejected {} ~ {}")


@app.command()
def match(
    input_csv: Path,
    output: Path = typer.Option(..., "--output", "-o"),
    id_column: str = typer.Option(..., "--id-column"),
    field: list[str] = typer.Option(..., "--field", help="ROLE=COLUMN, repeatable"),
) -> None:
    """File mode: cluster the people in a CSV; writes id + cluster_id per row."""
    from dedup.filemode import DedupInputError, match_file

    fields: dict[str, str] = {}
    for f in field:
        role, sep, col = f.partition("=")
        if not sep or not role or not col:
            raise typer.BadParameter(f"--field {f!r}: expected ROLE=COLUMN")
        fields[role.strip()] = col.strip()
    try:
        counts = match_file(input_csv, output, id_column, fields)
    except DedupInputError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(counts)


def _engine_candidates(wh) -> tuple[pd.DataFrame, pd.Series]:
    """The candidate pairs the engine's blocking makes of the stored records (their stored keys), and
    the records' ids."""
    from dedup.blocking import FAMILIES, candidate_pairs
    from dedup.model import DedupConfig
    from dedup.neighbourhood import stored_codes

    kcols = [f"k_{f}" for f in FAMILIES]
    stored = store.read_table(wh, "records_norm", columns=", ".join(["record_id", *kcols]))
    ids = stored["record_id"].astype(str)
    li, ri, _ = candidate_pairs(stored, DedupConfig().max_block_size, keys=stored_codes(stored[kcols]))
    rid = ids.to_numpy(dtype=object)
    return pd.DataFrame({"record_id_l": rid[li], "record_id_r": rid[ri]}), ids


@app.command()
def evaluate(
    workdir: Path = WORKDIR,
    truth: Path = typer.Option(None, help="ground_truth.csv"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pairwise precision/recall/F1 and cluster measures of the last run vs the sandbox ground truth."""
    from dedup.evaluate import evaluate_clusters

    settings = get_settings(workdir)
    truth = truth or settings.sandbox_dir / "ground_truth.csv"
    if not truth.exists():
        raise typer.BadParameter(f"{truth} not found (generate the sandbox first)")
    gt = pd.read_csv(truth, dtype=str)
    with connect(settings) as wh:
        cl = store.read_table(wh, "clusters")
    if not len(cl):
        raise typer.BadParameter("no clusters yet: run `kore dedup run` first")
    res = evaluate_clusters(cl, gt)
    with connect(settings) as wh:
        # blocking recall: of the candidate view when dbt built it, else of the engine's own blocking
        # over the stored records' keys (pair_scores keeps only the scored pairs that carry evidence)
        if wh.table_exists("dedup", "dedup_candidate_pairs"):
            cand = wh.query_df("select record_id_l, record_id_r from dedup.dedup_candidate_pairs")
            ids = wh.query_df("select record_id from dedup.dedup_person_records")["record_id"]
        else:
            cand, ids = _engine_candidates(wh)
    from dedup.evaluate import blocking_recall

    res |= {
        f"blocking_{k}" if not k.startswith("blocking") else k: v for k, v in blocking_recall(cand, gt, ids).items()
    }
    if as_json:
        console.print_json(json.dumps(res))
        return
    table = Table("measure", "value", title="dedup vs ground truth")
    for k, v in res.items():
        table.add_row(k, str(v))
    console.print(table)
