"""Turn the population (persons, accounts, names) into Archtics text columns.

Pure functions from numpy arrays to ``{column: values}`` dicts; the generator writes them, and the
live-changes builder reuses them for changed and new accounts so both look exactly alike.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sandbox.account_names import NameRows
from sandbox.people import PERSONAL_DOMAINS, format_phone
from sandbox.population import Population
from sandbox.text_values import date_text, int_text, ts_text

DAY = 86_400
USERS = np.array(["jsmith", "mgarcia", "akhan", "tnguyen", "lrossi", "bwilliams", "archtics", "web"], dtype=object)
NOTE_TEXTS = np.array(
    [
        "Called about renewal, will decide next month",
        "Left voicemail regarding seat upgrade",
        "Requested invoice copy",
        "Interested in group outing for office",
        "Asked about parking passes",
        "Payment plan set up",
        "Prefers e-mail contact",
        "Complained about delivery delay, resolved",
        "Wants to move seats closer to court",
        "Follow up after playoff game",
    ],
    dtype=object,
)
TASK_ACTIVITIES = np.array(["Call", "Email", "Meeting", "Follow-up"], dtype=object)


def _fmt_phones(values: np.ndarray, styles: np.ndarray) -> np.ndarray:
    return np.array(
        [format_phone(int(v), int(s)) if v > 0 else None for v, s in zip(values, styles, strict=True)], dtype=object
    )


def _join_addr(no: np.ndarray, street: np.ndarray) -> np.ndarray:
    return np.array([f"{n} {s}" if s is not None else None for n, s in zip(no, street, strict=True)], dtype=object)


def name_timestamps(
    pop: Population, rows: NameRows, rng: np.random.Generator, cutoff: int
) -> tuple[np.ndarray, np.ndarray]:
    """add/upd time of each name row: primaries take the account's, secondaries come later."""
    a_add, a_upd = pop.acct_add[rows.acct], pop.acct_upd[rows.acct]
    sec = ~rows.primary
    add = a_add.copy()
    add[sec] = a_add[sec] + ((cutoff - 1 - a_add[sec]) * rng.random(int(sec.sum())) * 0.5).astype(np.int64)
    upd = np.where(rows.primary, a_upd, add + ((cutoff - 1 - add) * rng.random(len(add)) ** 3).astype(np.int64))
    return add, upd


def cust_columns(
    pop: Population,
    rows: NameRows,
    add: np.ndarray,
    upd: np.ndarray,
    rng: np.random.Generator,
    acct_ids: np.ndarray | None = None,
    rec_status: np.ndarray | None = None,
) -> dict[str, object]:
    """cust columns for name rows (``acct_ids`` overrides the account ids, e.g. for new accounts)."""
    p, pools = pop.persons, pop.pools
    n = len(rows)
    ps = np.where(rows.person >= 0, rows.person, 0)
    is_person = rows.person >= 0
    acct = pop.acct_id[rows.acct] if acct_ids is None else acct_ids
    gender = np.where(is_person, p.gender[ps], None)
    sal = np.where(gender == "M", "Mr.", "Ms.").astype(object)
    sal[(~is_person) | (rng.random(n) < 0.4)] = None
    styles = rng.integers(0, 4, n)
    has_addr = np.array([s is not None for s in rows.street])
    city = np.where(has_addr, rows.city, 0)
    zip_ = np.array(
        [f"{(z + no % 50) % 100_000:05d}" for z, no in zip(pools.city_zip[city], rows.street_no, strict=True)],
        dtype=object,
    )
    birth = np.where(is_person & (p.birth[ps] >= 0), p.birth[ps] * DAY, -1)
    rep = pop.acct_rep[rows.acct] if acct_ids is None else np.full(n, -1)
    rep_owner = pop.acct_owner[np.maximum(rep, 0)]
    rep_name = np.array([f"{f} {s}" for f, s in zip(p.first[rep_owner], p.last[rep_owner], strict=True)], dtype=object)
    in_household = is_person & (p.household[ps] != np.arange(len(p))[ps])
    hh = np.where(in_household & (rng.random(n) < 0.4), 700_000 + p.household[ps], -1)
    pts = (rng.pareto(2.0, n) * 500).astype(np.int64)
    since = pop.acct_add[rows.acct] if acct_ids is None else add
    user = USERS[rng.integers(0, len(USERS), n)]
    cols: dict[str, object] = {
        "acct_id": int_text(acct),
        "cust_name_id": int_text(rows.cust_name_id),
        "primary_code": np.where(rows.primary, "Primary", "Secondary").astype(object),
        "rec_status": rec_status if rec_status is not None else np.full(n, "A", dtype=object),
        "acct_type_desc": pop.acct_type[rows.acct],
        "name_type": rows.name_type,
        "salutation": sal,
        "name_first": rows.first,
        "name_mi": rows.mi,
        "name_last": rows.last,
        "name_title": np.where(rows.scenario == "company_contact", "Ticket Coordinator", None),
        "company_name": rows.company,
        "street_addr_1": _join_addr(rows.street_no, rows.street),
        "street_addr_2": rows.unit,
        "city": np.where(has_addr, pools.cities[city], None),
        "state": np.where(has_addr, pools.city_state[city], None),
        "zip": np.where(has_addr, zip_, None),
        "country": np.where(has_addr, "USA", None),
        "phone_day": _fmt_phones(rows.phone_day, styles),
        "phone_eve": _fmt_phones(rows.phone_eve, styles),
        "phone_cell": _fmt_phones(rows.phone_cell, styles + 1),
        "email_addr": rows.email,
        "email_addr2": rows.email2,
        "birth_date": date_text(birth),
        "gender": gender,
        "acct_rep_num": int_text(np.where(rep >= 0, pop.acct_id[np.maximum(rep, 0)], -1), null_below=0),
        "acct_rep_name": np.where(rep >= 0, rep_name, None),
        "points": int_text(pts),
        "points_ytd": int_text(pts // 5),
        "points_itd": int_text(pts * 3),
        "since_date": date_text(since),
        "household_id": int_text(hh, null_below=0),
        "solicit_email": np.where(rng.random(n) < 0.7, "Y", "N").astype(object),
        "solicit_addr": np.where(rng.random(n) < 0.8, "Y", "N").astype(object),
        "solicit_phone_day": np.where(rng.random(n) < 0.5, "Y", "N").astype(object),
        "solicit_phone_eve": np.where(rng.random(n) < 0.5, "Y", "N").astype(object),
        "solicit_phone_cell": np.where(rng.random(n) < 0.5, "Y", "N").astype(object),
        "add_date": ts_text(add),
        "add_user": user,
        "upd_date": ts_text(upd),
        "upd_user": user,
        "other_info_1": np.where(rng.random(n) < 0.1, "Kings Club", None),
        "other_info_2": np.where(rng.random(n) < 0.05, "Prefers aisle seats", None),
    }
    return cols


def address_columns(
    pop: Population, rows: NameRows, cust: dict, rng: np.random.Generator, id_start: int
) -> tuple[dict, int]:
    """cust_address rows: the name's address (primary) plus seasonal/billing addresses for some."""
    has = np.flatnonzero(np.array([s is not None for s in rows.street]))
    extra = has[rows.primary[has] & (rng.random(len(has)) < 0.12)]
    idx = np.concatenate([has, extra])
    is_extra = np.concatenate([np.zeros(len(has), bool), np.ones(len(extra), bool)])
    o = np.lexsort((is_extra, idx))
    idx, is_extra = idx[o], is_extra[o]
    n = len(idx)
    pools = pop.pools
    seasonal = is_extra & (rng.random(n) < 0.5)
    fl_city = rng.integers(0, len(pools.cities), n)
    street1 = np.asarray(cust["street_addr_1"], dtype=object)[idx].copy()
    street1[is_extra] = [
        f"{1 + k % 9000} {pools.streets[k % len(pools.streets)]}" for k in rng.integers(0, 10**6, int(is_extra.sum()))
    ]
    city = np.asarray(cust["city"], dtype=object)[idx].copy()
    city[is_extra] = pools.cities[fl_city[is_extra]]
    state = np.asarray(cust["state"], dtype=object)[idx].copy()
    state[seasonal] = "FL"
    state[is_extra & ~seasonal] = pools.city_state[fl_city[is_extra & ~seasonal]]
    zip_ = np.asarray(cust["zip"], dtype=object)[idx].copy()
    zip_[is_extra] = [f"{z:05d}" for z in rng.integers(1000, 99999, int(is_extra.sum()))]
    first, last = rows.first[idx], rows.last[idx]
    full = np.array(
        [" ".join(x for x in (f, s) if x) or c for f, s, c in zip(first, last, rows.company[idx], strict=True)],
        dtype=object,
    )
    ids = id_start + np.arange(n)
    cols = {
        "acct_id": np.asarray(cust["acct_id"])[idx]
        if not isinstance(cust["acct_id"], pa.Array)
        else cust["acct_id"].take(pa.array(idx)),
        "cust_name_id": int_text(rows.cust_name_id[idx]),
        "cust_address_id": int_text(ids),
        "address_type": np.where(is_extra, np.where(seasonal, "2", "3"), "1").astype(object),
        "address_type_name": np.where(is_extra, np.where(seasonal, "Seasonal", "Billing"), "Primary").astype(object),
        "primary_ind": np.where(is_extra, "N", "Y").astype(object),
        "street_addr_1": street1,
        "street_addr_2": np.where(is_extra, None, rows.unit[idx]),
        "city": city,
        "state": state,
        "zip": zip_,
        "country": np.full(n, "USA", dtype=object),
        "seasonal": np.where(seasonal, "Y", "N").astype(object),
        "start_date": np.where(seasonal, "2020-12-01", None),
        "end_date": np.where(seasonal, "2021-03-31", None),
        "name_prefix": np.asarray(cust["salutation"], dtype=object)[idx],
        "name_first": first,
        "name_middle": rows.mi[idx],
        "name_last": last,
        "company_name": rows.company[idx],
        "full_name": full,
        "primary_code": np.where(rows.primary[idx], "Primary", "Secondary").astype(object),
        "name_type": rows.name_type[idx],
    }
    return cols, id_start + n


def email_columns(rows: NameRows, cust: dict, rng: np.random.Generator, id_start: int) -> tuple[dict, int]:
    """cust_email rows: primary e-mail, second e-mail, and now and then an old bounced address."""
    e1 = np.flatnonzero(np.array([e is not None for e in rows.email]))
    e2 = np.flatnonzero(np.array([e is not None for e in rows.email2]))
    idx = np.concatenate([e1, e2])
    sort = np.concatenate([np.ones(len(e1), np.int64), np.full(len(e2), 2)])
    addr = np.concatenate([rows.email[e1], rows.email2[e2]])
    o = np.lexsort((sort, idx))
    idx, sort, addr = idx[o], sort[o], addr[o]
    n = len(idx)
    personal = np.array([a.split("@", 1)[1] in PERSONAL_DOMAINS for a in addr])
    ids = id_start + np.arange(n)
    acct = cust["acct_id"]
    acct_txt = acct.take(pa.array(idx)) if isinstance(acct, pa.Array) else np.asarray(acct)[idx]
    cols = {
        "acct_id": acct_txt,
        "cust_name_id": int_text(rows.cust_name_id[idx]),
        "email_id": int_text(ids),
        "email_type": np.where(personal, "1", "2").astype(object),
        "email_type_name": np.where(personal, "Home", "Work").astype(object),
        "email_addr": addr,
        "primary_ind": np.where(sort == 1, "Y", "N").astype(object),
        "email_sort": int_text(sort),
        "status": np.where(rng.random(n) < 0.03, "Bounced", "Active").astype(object),
        "solicit_email": np.where(rng.random(n) < 0.7, "Y", "N").astype(object),
    }
    return cols, id_start + n


def rep_columns(pop: Population, accts: np.ndarray, reps: np.ndarray, rep_type: np.ndarray) -> dict:
    """cust_rep rows: account ``accts[i]`` has rep account ``reps[i]`` of type 'S' (sales) or 'C' (service)."""
    p = pop.persons
    owner = pop.acct_owner[reps]
    first, last, mi = p.first[owner], p.last[owner], p.mi[owner]
    user = np.array(
        [(f[0] + s).lower().replace(" ", "").replace("'", "") for f, s in zip(first, last, strict=True)], dtype=object
    )
    phones = p.work_phone[owner]
    return {
        "acct_id": int_text(pop.acct_id[accts]),
        "acct_rep_id": int_text(pop.acct_id[reps]),
        "acct_rep_type": rep_type,
        "acct_rep_type_name": np.where(rep_type == "S", "Sales Rep", "Service Rep").astype(object),
        "rep_name_first": first,
        "rep_name_middle": mi,
        "rep_name_last": last,
        "rep_company_name": np.full(len(accts), "Kore City Kings", dtype=object),
        "rep_name_last_first_mi": np.array([f"{s}, {f}" for f, s in zip(first, last, strict=True)], dtype=object),
        "rep_full_name": np.array([f"{f} {s}" for f, s in zip(first, last, strict=True)], dtype=object),
        "rep_user_id": user,
        "rep_email_addr": np.array([f"{u}@korecitykings.com" for u in user], dtype=object),
        "rep_phone": np.array([f"{x:010d}" for x in phones], dtype=object),
        "rep_phone_formatted": np.array([format_phone(int(x), 0) for x in phones], dtype=object),
    }


def note_columns(
    acct_ids: np.ndarray,
    note_ids: np.ndarray,
    ts: np.ndarray,
    rng: np.random.Generator,
    texts: np.ndarray | None = None,
    max_ts: int | None = None,
) -> dict:
    """note rows: plain notes, and tasks with one to three stages (one row per stage, same note_id).

    With ``texts`` every row is a plain note with that text (e.g. merge notes). Stage times never
    pass ``max_ts`` (the export holds rows strictly before the cutoff).
    """
    n = len(acct_ids)
    is_task = rng.random(n) < 0.3 if texts is None else np.zeros(n, bool)
    text = NOTE_TEXTS[rng.integers(0, len(NOTE_TEXTS), n)] if texts is None else texts
    stages = np.where(is_task, rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]), 1)
    idx = np.repeat(np.arange(n), stages)
    first = np.concatenate([[0], np.cumsum(stages)[:-1]])
    seq = np.arange(len(idx)) - np.repeat(first, stages) + 1
    last_stage = seq == stages[idx]
    t = ts[idx] + (seq - 1) * rng.integers(DAY, 14 * DAY, len(idx))
    if max_ts is not None:
        t = np.minimum(t, max_ts)
    is_task, user = is_task[idx], USERS[rng.integers(0, 6, len(idx))]
    status = np.where(last_stage & (rng.random(len(idx)) < 0.3), "Open", "Complete")
    return {
        "note_id": int_text(note_ids[idx]),
        "acct_id": int_text(acct_ids[idx]),
        "add_user": user,
        "add_datetime": ts_text(ts[idx]),
        "note_type": np.where(is_task, "Task", "Note").astype(object),
        "upd_datetime": ts_text(t),
        "upd_user": user,
        "contact_category": np.where(is_task, "Sales", None),
        "contact_type": np.where(is_task, "Phone", None),
        "task_type": np.where(is_task, "Renewal", None),
        "text": text[idx],
        "priority": np.where(is_task, "Normal", None),
        "task_stage_seq_num": int_text(seq),
        "task_activity": np.where(is_task, TASK_ACTIVITIES[rng.integers(0, 4, len(idx))], None),
        "task_stage_status": np.where(is_task, status, None),
        "task_assigned_to_user_id": np.where(is_task, user, None),
        "task_dept_name": np.where(is_task, "Ticket Sales", None),
        "task_start_date": np.where(is_task, date_text(t).to_numpy(zero_copy_only=False), None),
    }
