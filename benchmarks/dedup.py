"""Dedup benchmark: full and incremental warehouse dedup runs at scale, scored against ground truth.

Steps (each timed separately, only the dedup runs count toward ``seconds``):
1. the sandbox generator writes an export + CRM seed + ground truth (in a child process, so its
   memory does not count toward the dedup's peak RSS); tickets are skipped (dedup does not use them);
2. person records are built from the export with DuckDB SQL that mirrors the dbt models
   ``int_archtics_names_enriched`` / ``int_persons_unioned`` / ``dedup_person_records`` (its select
   list is the person-record contract, ``kore.contracts.person_fields``, but ``NOT_BUILT``), and stored
   as ``dedup.dedup_person_records`` in the benchmark's own warehouse (no candidate view: the engine
   blocks by itself);
3. ``run_dedup`` full run -> seconds, pairwise precision/recall/F1 vs ground truth;
4. 1% of the records change (a new e-mail address, as after a move), ``run_dedup`` again
   (incremental) -> ``incremental_seconds``.

Goal (issue 5): 1M Archtics names + 200k CRM contacts in <= 5 min and <= 6 GB; incremental (1%)
<= 5% of the full run. ``run(workdir, accounts=880_000, crm_share=0.24)`` is that size (about 1.14
names per account; CRM contacts cover ``crm_share`` of the persons).
"""

from __future__ import annotations

import gc
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from kore.config import REPO_ROOT, get_settings
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS
from kore.warehouse import connect

# contract columns the benchmark's SQL does not build (the engine fills them: display spellings from
# the raw values, full_name null, no KORE keys on a fresh CRM seed)
NOT_BUILT = (
    "full_name",
    "first_name_display",
    "last_name_display",
    "company_display",
    "street_display",
    "city_display",
    "state_display",
    "kore_external_key",
    "crm_account_key",
)
# the person record's columns, in the contract's order (row_hash is computed last)
BUILT_COLUMNS = [c for c in PERSON_RECORD_COLUMNS if c not in (*NOT_BUILT, "row_hash")]

PERSON_SQL = """
with cust as (
    select * from read_csv('{export}/cust/*.csv.gz', all_varchar = true, header = true)
),
emails as (
    select acct_id, cust_name_id, email_addr,
           row_number() over (partition by acct_id, cust_name_id
                              order by (primary_ind = 'Y') desc, try_cast(email_sort as int), email_id) as rk
    from read_csv('{export}/cust_email/*.csv.gz', all_varchar = true, header = true)
    where email_addr is not null
),
addrs as (
    select acct_id, cust_name_id, street_addr_1, city, state, zip,
           row_number() over (partition by acct_id, cust_name_id
                              order by (primary_ind = 'Y') desc, cust_address_id) as rk
    from read_csv('{export}/cust_address/*.csv.gz', all_varchar = true, header = true)
    where street_addr_1 is not null
),
archtics as (
    select 'A:' || c.acct_id || ':' || c.cust_name_id as record_id, 'archtics' as source,
           c.acct_id, c.cust_name_id, null as crm_contact_id,
           case when c.primary_code = 'Primary' then 1 else 0 end as is_primary_name,
           c.name_first as first_name, c.name_last as last_name, c.company_name as company,
           coalesce(e.email_addr, c.email_addr) as email,
           coalesce(c.phone_cell, c.phone_day, c.phone_eve) as phone,
           coalesce(c.street_addr_1, a.street_addr_1) as street,
           case when c.street_addr_1 is null then a.city else c.city end as city,
           case when c.street_addr_1 is null then a.state else c.state end as state,
           case when c.street_addr_1 is null then a.zip else c.zip end as zip5,
           c.birth_date, c.name_type, c.acct_type_desc, 0 as is_excluded_account_type,
           null as archtics_account_id_on_crm, c.upd_date as last_activity_at, c.upd_date as updated_at
    from cust c
    left join emails e on e.acct_id = c.acct_id and e.cust_name_id = c.cust_name_id and e.rk = 1
    left join addrs a on a.acct_id = c.acct_id and a.cust_name_id = c.cust_name_id and a.rk = 1
),
crm as (
    select 'C:' || k.crm_id as record_id, 'crm' as source, null as acct_id, null as cust_name_id,
           k.crm_id as crm_contact_id, 0 as is_primary_name, k.first_name, k.last_name,
           acc.name as company, k.email, coalesce(k.mobile_phone, k.phone) as phone, k.street, k.city,
           k.state, k.postal_code as zip5, k.birth_date, 'I' as name_type, null as acct_type_desc,
           0 as is_excluded_account_type, k.archtics_account_id as archtics_account_id_on_crm,
           k.modified_at as last_activity_at, k.modified_at as updated_at
    from read_json('{seed}/contacts.jsonl', format = 'newline_delimited', columns = {{
        crm_id: 'varchar', first_name: 'varchar', last_name: 'varchar', email: 'varchar',
        phone: 'varchar', mobile_phone: 'varchar', street: 'varchar', city: 'varchar', state: 'varchar',
        postal_code: 'varchar', birth_date: 'varchar', account_id: 'varchar',
        archtics_account_id: 'varchar', modified_at: 'varchar'}}) k
    left join read_json('{seed}/accounts.jsonl', format = 'newline_delimited',
        columns = {{crm_id: 'varchar', name: 'varchar'}}) acc on acc.crm_id = k.account_id
),
u as (select * from archtics union all select * from crm)
select {columns}, md5(concat_ws('|', record_id, first_name, last_name, company, email, phone, street, city,
                        state, zip5, birth_date, name_type)) as row_hash
from u
"""


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def generate(base: Path, accounts: int, seed: int = 42, crm_share: float = 0.2) -> float:
    """Run the sandbox generator in a child process (its memory is not the dedup's)."""
    t0 = time.perf_counter()
    code = (
        "from pathlib import Path; from sandbox.generator import generate; "
        f"generate({accounts}, Path(r'{base / 'export'}'), seed={seed}, sandbox_dir=Path(r'{base / 'sandbox'}'), "
        f"tickets_per_account=0.0, crm_share={crm_share}, show_progress=False)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT)})
    return time.perf_counter() - t0


def build_person_records(base: Path) -> pd.DataFrame:
    """The person records from the export and CRM seed: the contract's columns (``BUILT_COLUMNS``)."""
    sql = PERSON_SQL.format(
        export=base / "export", seed=base / "sandbox" / "crm_seed", columns=", ".join(BUILT_COLUMNS)
    )
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        # in record_id order: the rows of a query come in whatever order its joins finish, and the
        # benchmark's 1% change is drawn by position (two runs changed different records)
        return con.execute(sql).df().sort_values("record_id", kind="stable").reset_index(drop=True)


def review_figures(wh, truth: pd.DataFrame) -> dict:
    """The review queue's and the push holds' size, and how many of their pairs are one person in the
    ground truth (the share of a reviewer's work that finds a real duplicate)."""
    person = truth.set_index("record_id")["person_id"]

    def same(df: pd.DataFrame, left: str, right: str) -> int:
        pl, pr = df[left].map(person), df[right].map(person)
        return int((pl.notna() & (pl == pr)).sum())

    queue = wh.query_df("select record_id_l, record_id_r from kore_dedup.review_queue")
    holds = wh.query_df("select reason, record_id, partner_record_id from kore_dedup.push_holds")
    out = {"review_queue": len(queue), "review_queue_same_person": same(queue, "record_id_l", "record_id_r")}
    for reason, g in holds.groupby("reason"):
        out[f"holds_{reason}"] = len(g)
        out[f"holds_{reason}_same_person"] = same(g, "record_id", "partner_record_id")
    return out


def change_one_percent(records: pd.DataFrame, share: float = 0.01, seed: int = 7) -> pd.DataFrame:
    """A new e-mail address for ``share`` of the records (same person, changed row_hash)."""
    out = records.copy()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(out), size=max(1, int(len(out) * share)), replace=False)
    out.loc[idx, "email"] = [f"moved.{i}@newmail.example" for i in idx]
    out.loc[idx, "row_hash"] = out.loc[idx, "row_hash"].astype(str) + "x"
    return out


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw) -> dict:
    """Benchmark figures: records, seconds, peak_rss_mb, precision, recall, f1, incremental_seconds."""
    from dedup.evaluate import evaluate_clusters
    from dedup.pipeline import run_dedup

    accounts = accounts or 100_000
    workdir = Path(workdir)
    params = {"accounts": accounts, "seed": int(kw.get("seed", 42)), "crm_share": float(kw.get("crm_share", 0.2))}
    params_file = workdir / "bench_dedup_params.json"
    reuse = str(kw.get("reuse", "false")).lower() in ("1", "true", "yes")
    reused = reuse and params_file.exists() and json.loads(params_file.read_text()) == params
    if reused:  # the same generated data: only the warehouse starts over
        (workdir / "warehouse.duckdb").unlink(missing_ok=True)
        gen_seconds = 0.0
    else:
        if workdir.exists() and kw.get("fresh", True):
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        gen_seconds = generate(workdir, accounts, params["seed"], params["crm_share"])
        params_file.write_text(json.dumps(params))
    settings = get_settings(workdir)
    t0 = time.perf_counter()
    records = build_person_records(workdir)
    build_seconds = time.perf_counter() - t0
    with connect(settings) as wh:
        wh.replace_table("dedup", "dedup_person_records", records)
    counts = {
        "records": int(len(records)),
        "archtics_names": int((records["source"] == "archtics").sum()),
        "crm_contacts": int((records["source"] == "crm").sum()),
    }
    # the dedup run reads its records from the warehouse: the benchmark's own copy is not held
    # during the measured run (peak_rss_mb is the whole process)
    del records
    gc.collect()

    t0 = time.perf_counter()
    full = run_dedup(settings, full=True, progress=False)
    seconds = time.perf_counter() - t0

    truth = pd.read_csv(workdir / "sandbox" / "ground_truth.csv", dtype=str)
    with connect(settings) as wh:
        clusters = wh.query_df("select record_id, cluster_id from kore_dedup.clusters")
    quality = evaluate_clusters(clusters, truth)
    with connect(settings) as wh:
        review = review_figures(wh, truth)

    with connect(settings) as wh:
        records = wh.query_df("select * from dedup.dedup_person_records")
        wh.replace_table("dedup", "dedup_person_records", change_one_percent(records))
    del records
    gc.collect()
    t0 = time.perf_counter()
    inc = run_dedup(settings, progress=False)
    incremental_seconds = time.perf_counter() - t0

    result = {
        "accounts": accounts,
        **counts,
        "seconds": round(seconds, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "precision": quality["precision"],
        "recall": quality["recall"],
        "f1": quality["f1"],
        "incremental_seconds": round(incremental_seconds, 2),
        "incremental_share": round(incremental_seconds / seconds, 4) if seconds else None,
        "pairs_scored": full["pairs_scored"],
        "incremental_pairs_scored": inc["pairs_scored"],
        "incremental_changed_records": inc["changed_records"],
        "clusters": full["clusters"],
        "exact_cluster_ratio": quality["exact_cluster_ratio"],
        "persons_split": quality["persons_split"],
        "clusters_mixed": quality["clusters_mixed"],
        "times": full.get("times", {}),
        "incremental_times": inc.get("times", {}),
        **review,
        "generate_seconds": round(gen_seconds, 2),
        "build_records_seconds": round(build_seconds, 2),
    }
    (workdir / "bench_dedup.json").write_text(json.dumps(result, indent=1))
    return result
