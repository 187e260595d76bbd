"""Pure dedup functions: normalisation, score symmetry, clustering guards and stable ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from dedup.cluster import assign_cluster_ids, constrained_components
from dedup.compare import FIELD_NAMES, compare_pairs
from dedup.engine import Scorer
from dedup.evaluate import evaluate_clusters
from dedup.model import DedupConfig
from dedup.normalize import _STREET_ABBR, FIELD_RULES, norm_phone, normalize_records, per_value, related_first_names
from dedup.records import key_codes
from tests.test_dedup_fixtures import all_records, colleague_records, frame, gabriel_records, household_records

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=25)
person = st.fixed_dictionaries(
    {
        "record_id": st.uuids().map(str),
        "first_name": st.one_of(st.none(), text),
        "last_name": st.one_of(st.none(), text),
        "email": st.one_of(st.none(), text, st.emails()),
        "phone": st.one_of(st.none(), st.from_regex(r"\+?1? ?\(?\d{3}\)? ?\d{3}-?\d{4}", fullmatch=True)),
        "street": st.one_of(st.none(), text),
        "zip5": st.one_of(st.none(), st.from_regex(r"\d{5}(-\d{4})?", fullmatch=True)),
        "company": st.one_of(st.none(), text),
        "birth_date": st.one_of(st.none(), st.dates().map(str)),
    }
)


@settings(max_examples=40, deadline=None)
@given(st.lists(person, min_size=1, max_size=8))
def test_normalisation_is_idempotent(rows):
    once = normalize_records(pd.DataFrame(rows))
    twice = normalize_records(once)
    pd.testing.assert_frame_equal(once, twice)


@settings(max_examples=40, deadline=None)
@given(st.lists(person, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_each_rule_applied_per_distinct_value_equals_it_applied_per_row(rows, rnd):
    """The rules run once per distinct value (a million records hold a few thousand first names);
    spread back, the result must be the rule's row by row: repeats, nulls and order included."""
    rows = rows + [rnd.choice(rows) for _ in range(len(rows))]  # repeated values
    rnd.shuffle(rows)
    df = pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))])
    for col, rule in FIELD_RULES.items():
        raw = df[col].astype("string") if col in df else pd.Series(pd.NA, index=df.index, dtype="string")
        pd.testing.assert_series_equal(per_value(rule, raw), rule(raw), check_names=False)


street_text = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *_STREET_ABBR,
                "st",
                "norths",
                "courtyard",
                "kingsburystreet",
                "strreet",
                "poace",
                "plac",
                "palace",
                "12",
                "é",
                "Ａ",
                "-",
                "  ",
            ]
        ),  # fmt: skip
        text,
    ),
    max_size=6,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), street_text), min_size=1, max_size=12))
def test_text_and_street_rules_equal_their_definitions(values):
    """``norm_text`` folds only the values that need it and ``norm_street`` abbreviates word by word
    (both for speed at a million records): the results, types included, must equal the rules as
    written -- every value folded (NFKD, ASCII), then one word-boundary expression per abbreviation,
    after each word one edit from a street type behind a word with a letter was made that type."""
    from dedup.normalize import _GLUED_TYPES, _LONG_TYPES, norm_street, norm_text

    def typo_rule(street: str) -> str:
        words = street.split(" ")
        for i, w in enumerate(words):
            if i and re.search("[a-z]", words[i - 1]) and w not in _STREET_ABBR and len(w) >= 4:
                best = min(_LONG_TYPES, key=lambda t: OSA.distance(w, t))  # the first of equally near ones
                words[i] = best if OSA.distance(w, best) <= 1 else w
        return " ".join(words)

    raw = pd.Series(values, dtype="string")
    folded = raw.str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
    want_text = folded.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    want_text = want_text.mask(want_text == "")
    pd.testing.assert_series_equal(norm_text(raw), want_text)
    want_street = want_text.str.replace(rf"\b([a-z]{{3,}}?)({_GLUED_TYPES})\b", r"\1 \2", regex=True)
    want_street = want_street.map(typo_rule, na_action="ignore").astype(want_street.dtype)
    for word, abbr in _STREET_ABBR.items():
        want_street = want_street.str.replace(rf"\b{word}\b", abbr, regex=True)
    pd.testing.assert_series_equal(norm_street(raw), want_street)


_STREET_CHARS = st.sampled_from(list("0123456789 abcxyz_-\t\v\x1c\x1f\u00e9\u0663"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(_STREET_CHARS, max_size=14)), min_size=1, max_size=12))
@example(["12 a\vb", "3 x\x1cy", "4 q\x1f", "5 \tz", None])
def test_street_start_equals_pythons_regex(values):
    """``street_start`` (Arrow's RE2 on ASCII text, pandas otherwise) gives what Python's ``re`` gives
    for ``STREET_START``, row for row, nulls included: RE2's classes differ from Python's on control
    characters and outside ASCII, and the comparison of street starts must not depend on the engine."""
    from dedup.compare import STREET_START, street_start

    for raw in (values, [v for v in values if v is None or v.isascii()] or [None]):
        s = pd.Series(raw, dtype="string")
        want = [m.group(1) if (v is not None and (m := re.match(STREET_START, v))) else None for v in raw]
        assert [None if pd.isna(v) else v for v in street_start(s).tolist()] == want


def test_token_sorted_takes_any_sequence_of_texts():
    """``token_sorted`` (the street's words in order, once per distinct street) gives one result for
    a list, a pandas Index of Arrow strings and a numpy array."""
    from dedup.normalize import token_sorted

    values = ["st main 12", "b a", "", "x"]
    want = ["12 main st", "a b", "", "x"]
    for seq in (values, pd.Index(values, dtype="string"), np.array(values, dtype=object)):
        assert token_sorted(seq) == want


def test_account_linked_pairs_are_a_crm_contact_and_any_name_of_the_account_it_carries():
    """``account_linked`` (kept in ``pair_scores`` whatever their score) holds every deterministic
    pair and the pairs with the account's other names: which name is primary can change while
    neither record of such a pair changes (the primary name removed), and the link then needs the
    pair's stored row. Ids are compared as ``deterministic_pairs`` compares them (numeric account ids)."""
    from dedup.engine import account_linked, deterministic_pairs

    rec = pd.DataFrame(
        {
            "record_id": ["A:7:1", "A:7:2", "A:8:1", "C:1", "C:2", "C:3"],
            "source": ["archtics", "archtics", "archtics", "crm", "crm", "crm"],
            "acct_id": ["7", "7.0", "8", None, None, "7"],
            "is_primary_name": [1, 0, 1, None, None, None],
            "archtics_account_id_on_crm": [None, None, "7", "7", None, None],
        }
    )
    pos = {r: i for i, r in enumerate(rec["record_id"])}
    pairs = [
        ("C:1", "A:7:1"),
        ("A:7:2", "C:1"),
        ("C:1", "A:8:1"),
        ("C:2", "A:7:1"),
        ("C:3", "A:7:1"),
        ("A:8:1", "A:7:1"),
    ]
    got = account_linked(rec, np.array([pos[a] for a, _ in pairs]), np.array([pos[b] for _, b in pairs]))
    assert got.tolist() == [True, True, False, False, False, False]
    det = deterministic_pairs(rec)
    assert list(zip(det["record_id_l"], det["record_id_r"], strict=True)) == [("A:7:1", "C:1")]


def test_a_stored_pair_carries_evidence():
    """What ``pair_scores`` keeps of the scored pairs: matches, possible matches, cannot-links (the
    veto, or a weight at or under the threshold) and account-linked pairs -- each alone enough --
    and not a plain non-match."""
    from dedup.engine import carries_evidence

    cfg = DedupConfig()
    low = cfg.cannot_link_threshold
    scores = pd.DataFrame(
        {
            "decision": pd.Categorical(["match", "possible", "non_match", "non_match", "non_match", "non_match"]),
            "veto": pd.Categorical(["", "", "company_vs_person", "", "", ""]),
            "weight": [9.0, 1.0, 2.0, low, low + 0.5, low + 0.5],
        }
    )
    linked = np.array([False, False, False, False, True, False])
    assert carries_evidence(scores, linked, cfg).tolist() == [True, True, True, True, True, False]


def test_normalisation_examples():
    df = normalize_records(
        frame(
            [
                {
                    "first_name": "  José ",
                    "last_name": "O'Brien Jr.",
                    "phone": "(514) 555-0199",
                    "email": " Foo@Bar.COM ",
                    "street": "12 North Main Street",
                    "zip5": "02139-1234",
                    "company": "Acme & Sons, Inc.",
                    "birth_date": "1984-03-07 00:00:00",
                }
            ]
        )
    ).iloc[0]
    assert (df.first_name, df.last_name, df.phone, df.email) == ("jose", "o brien", "15145550199", "foo@bar.com")
    assert (df.street, df.zip5, df.company, df.birth_date) == ("12 n main st", "02139", "acme and sons", "1984-03-07")
    assert norm_phone(pd.Series(["123"])).isna().all()
    rel = set(related_first_names(["bob", "robert", "liz", "elizabeth", "patrick", "patricia", "pat"]))
    assert {("bob", "robert"), ("liz", "elizabeth"), ("pat", "patrick"), ("pat", "patricia")} <= rel
    assert ("patrick", "patricia") not in rel  # two full names that share a nickname are two names


@settings(max_examples=30, deadline=None)
@given(st.lists(person, min_size=2, max_size=8))
def test_scores_are_symmetric(rows):
    rec = normalize_records(pd.DataFrame(rows))
    scorer = Scorer(rec, DedupConfig())
    n = len(rec)
    li, ri = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    keep = li != ri
    li, ri = li[keep], ri[keep]
    ab = compare_pairs(scorer.prep, li, ri)
    ba = compare_pairs(scorer.prep, ri, li)
    for f in FIELD_NAMES:
        assert np.array_equal(ab[f], ba[f]), f


def test_threads_compare_and_score_as_one_thread_does():
    """Pairs are compared and scored in pieces on several threads (``DedupConfig.threads``): the
    levels, odds and scores equal one thread's, pair for pair and in the pairs' order."""
    from dataclasses import replace

    from dedup.arrays import chunked
    from dedup.blocking import candidate_pairs

    assert chunked(lambda a, b: (a, b), 10, 4, threads=2) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert chunked(lambda a, b: (a, b), 0, 4, threads=2) == []
    assert chunked(lambda a, b: (a, b), 3, 100, threads=2) == [(0, 2), (2, 3)]  # a small input on both threads
    rec = normalize_records(all_records())
    one = Scorer(rec, replace(DedupConfig(), threads=1, score_chunk=7))
    many = Scorer(rec, replace(DedupConfig(), threads=3, score_chunk=7))
    assert one.prep.keys() == many.prep.keys()  # the comparison arrays, derived in one pass and in two halves at once
    assert all(np.array_equal(one.prep[k], many.prep[k]) for k in one.prep)
    li, ri, _ = candidate_pairs(one.records)
    assert len(li) > 7 * 3  # several pieces on every thread
    model = one.fit(li, ri)
    threaded = many.levels(li, ri)
    for f, lv in one.levels(li, ri).items():
        assert np.array_equal(lv, threaded[f]), f
    assert np.array_equal(one.unvetoed_odds(li, ri, model), many.unvetoed_odds(li, ri, model))
    pd.testing.assert_frame_equal(one.score(li, ri, model), many.score(li, ri, model))


def _scores(rows):
    rec = normalize_records(all_records())
    scorer = Scorer(rec, DedupConfig())
    idx = scorer.positions(pd.Series([r["record_id"] for r in rows]))
    li, ri = np.triu_indices(len(idx), 1)
    from dedup.blocking import candidate_pairs

    cl, cr, _ = candidate_pairs(scorer.records)
    model = scorer.fit(cl, cr)
    return scorer.score(idx[li], idx[ri], model, progress=False)


def test_household_members_do_not_match():
    sc = _scores(household_records())
    pairs = {(r.record_id_l, r.record_id_r): r.decision for r in sc.itertuples()}
    # Bob = Robert (nickname) with the same email: the same person
    assert pairs[("A:2001:1", "A:2004:1")] == "match"
    for (a, b), d in pairs.items():
        if {a, b} != {"A:2001:1", "A:2004:1"}:
            assert d == "non_match", (a, b)


def test_colleagues_sharing_a_company_do_not_match():
    sc = _scores(colleague_records())
    assert "match" not in set(sc["decision"])  # two Johns at one switchboard may go to review, never merge


def test_same_person_at_two_employers_matches():
    sc = _scores(gabriel_records())
    two_accounts = sc[(sc.record_id_l == "A:1001:1") & (sc.record_id_r == "A:1002:1")].iloc[0]
    assert two_accounts.decision == "match"
    assert two_accounts.company_level == 0  # different employers, still one person


def test_common_surname_weighs_less_than_rare_surname():
    rows = [{"record_id": f"S{i}", "first_name": f"x{i}", "last_name": "smith"} for i in range(30)]
    rows += [
        {"record_id": "R1", "first_name": "ann", "last_name": "tremblay-okonkwo"},
        {"record_id": "R2", "first_name": "ann", "last_name": "tremblay-okonkwo"},
        {"record_id": "S98", "first_name": "ann", "last_name": "smith"},
        {"record_id": "S99", "first_name": "ann", "last_name": "smith"},
    ]
    scorer = Scorer(normalize_records(pd.DataFrame(rows)), DedupConfig())
    model = scorer.fit(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    pos = scorer.positions(pd.Series(["R1", "R2", "S98", "S99"]))
    sc = scorer.score(np.array([pos[0], pos[2]]), np.array([pos[1], pos[3]]), model)
    assert sc.loc[0, "last_name_weight"] > sc.loc[1, "last_name_weight"] + 3


# ---- clustering -----------------------------------------------------------------------------
edge = st.tuples(st.integers(0, 11), st.integers(0, 11), st.floats(1, 40))
# a link graph of 12 records: weighted links, the CRM contacts, the cannot-links
graph = (
    st.lists(edge, max_size=30),
    st.sets(st.integers(0, 11), max_size=5),
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(*graph)
def test_no_cluster_holds_two_crm_contacts_or_a_cannot_link(edges, crm_nodes, cannot):
    n = 12
    edges = [(a, b, w) for a, b, w in edges if a != b]
    is_crm = np.zeros(n, dtype=bool)
    is_crm[list(crm_nodes)] = True
    el = np.array([e[0] for e in edges], dtype=np.int64)
    er = np.array([e[1] for e in edges], dtype=np.int64)
    ew = np.array([e[2] for e in edges], dtype=float)
    cl = np.array([c[0] for c in cannot if c[0] != c[1]], dtype=np.int64)
    cr = np.array([c[1] for c in cannot if c[0] != c[1]], dtype=np.int64)
    labels = constrained_components(n, el, er, ew, is_crm, cl, cr).labels
    for lab in set(labels.tolist()):
        assert is_crm[labels == lab].sum() <= 1
    for a, b in zip(cl.tolist(), cr.tolist(), strict=True):
        assert labels[a] != labels[b]
    # every accepted edge's endpoints share a label only through accepted links: idempotent re-run
    again = constrained_components(n, el, er, ew, is_crm, cl, cr).labels
    assert np.array_equal(labels, again)


@settings(max_examples=100, deadline=None)
@given(*graph)
def test_clusters_equal_the_greedy_union_run_over_every_link(edges, crm_nodes, cannot):
    """Only the components where a guard can refuse a link go through the greedy union: the clusters
    and the refused links are the greedy union's over all links (the labels' values aside)."""
    from dedup.cluster import _greedy

    n = 12
    edges = [(a, b, w) for a, b, w in edges if a != b]
    is_crm = np.zeros(n, dtype=bool)
    is_crm[list(crm_nodes)] = True
    args = (
        n,
        np.array([e[0] for e in edges], dtype=np.int64),
        np.array([e[1] for e in edges], dtype=np.int64),
        np.array([e[2] for e in edges], dtype=float),
        is_crm,
        np.array([c[0] for c in cannot if c[0] != c[1]], dtype=np.int64),
        np.array([c[1] for c in cannot if c[0] != c[1]], dtype=np.int64),
    )
    got, want = constrained_components(*args), _greedy(*args)
    pairs = pd.DataFrame({"got": got.labels, "want": want.labels}).drop_duplicates()
    assert pairs["got"].is_unique and pairs["want"].is_unique
    assert got.refused == want.refused


def test_weak_link_does_not_chain_two_people():
    # Bob(0) -- strong -- B.(1) -- weak -- Barbara(2); Bob and Barbara cannot link (first names differ)
    labels = constrained_components(
        3,
        np.array([0, 1]),
        np.array([1, 2]),
        np.array([30.0, 15.0]),
        np.zeros(3, bool),
        np.array([0]),
        np.array([2]),
    ).labels
    assert labels[0] == labels[1] != labels[2]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=15))
def test_cluster_ids_are_stable_and_kept_when_records_join(labels):
    ids = pd.Series([f"R{i:02d}" for i in range(len(labels))])
    lab = np.array(labels)
    first = assign_cluster_ids(ids, lab, pd.DataFrame()).assign(first_seen_at="2026-01-01")
    # same input -> same ids (idempotent); and from stored assignments -> same ids
    assert first["cluster_id"].tolist() == assign_cluster_ids(ids, lab, pd.DataFrame())["cluster_id"].tolist()
    assert first["cluster_id"].tolist() == assign_cluster_ids(ids, lab, first)["cluster_id"].tolist()
    # a new record joining cluster of record 0 (with a smaller id) keeps that cluster's id
    ids2 = pd.concat([ids, pd.Series(["A-new"])], ignore_index=True)
    lab2 = np.append(lab, lab[0])
    second = assign_cluster_ids(ids2, lab2, first).set_index("record_id")["cluster_id"]
    assert second["A-new"] == first.set_index("record_id")["cluster_id"]["R00"]
    assert second.drop("A-new").tolist() == first["cluster_id"].tolist()


def test_evaluation_counts_pairs():
    pred = pd.DataFrame({"record_id": list("abcde"), "cluster_id": ["1", "1", "1", "2", "3"]})
    truth = pd.DataFrame({"record_id": list("abcde"), "person_id": ["p", "p", "q", "r", "r"]})
    res = evaluate_clusters(pred, truth)
    assert (res["true_positive_pairs"], res["predicted_pairs"], res["true_pairs"]) == (1, 3, 2)
    assert res["precision"] == round(1 / 3, 5) and res["recall"] == 0.5


def test_new_cluster_ids_avoid_ids_held_elsewhere():
    from dedup.cluster import new_cluster_id

    ids = pd.Series(["R1", "R2"])
    out = assign_cluster_ids(ids, np.array([0, 0]), pd.DataFrame(), reserved={new_cluster_id("R1")})
    assert out["cluster_id"].nunique() == 1 and out["cluster_id"].iloc[0] != new_cluster_id("R1")


def test_blocking_recall_counts_true_pairs_found_by_blocking() -> None:
    from dedup.evaluate import blocking_recall

    truth = pd.DataFrame(
        {"record_id": ["A:1:1", "A:2:1", "A:3:1", "C:x", "A:9:1"], "person_id": ["p1", "p1", "p1", "p2", "p2"]}
    )
    # p1 has 3 true pairs, p2 has 1; the candidates find two of p1's (one listed reversed) and none of p2's
    cand = pd.DataFrame({"record_id_l": ["A:2:1", "A:1:1", "A:1:1"], "record_id_r": ["A:1:1", "A:3:1", "C:x"]})
    res = blocking_recall(cand, truth, pd.Series(["A:1:1", "A:2:1", "A:3:1", "C:x", "A:9:1"]))
    assert res["true_pairs"] == 4 and res["true_pairs_in_candidates"] == 2
    assert res["blocking_recall"] == 0.5
    # records not in the warehouse do not count
    res = blocking_recall(cand, truth, pd.Series(["A:1:1", "A:2:1", "A:3:1"]))
    assert res["true_pairs"] == 3 and res["blocking_recall"] == round(2 / 3, 5)


def test_dedup_refuses_records_without_or_with_a_repeated_record_id() -> None:
    """Every cluster, mapping and golden contact is keyed on record_id: a view that fans out (a repeated
    id) or loses ids is refused with a message that says what and how many, never clustered."""
    from dedup.store import check_records

    good = pd.DataFrame({"record_id": ["A:1:1", "A:2:1", "C:x"]})
    assert check_records(good) is good
    with pytest.raises(ValueError, match=r"0 record\(s\) without record_id, 1 repeated"):
        check_records(pd.DataFrame({"record_id": ["A:1:1", "A:1:1", "C:x"]}))
    with pytest.raises(ValueError, match=r"1 record\(s\) without record_id"):
        check_records(pd.DataFrame({"record_id": ["A:1:1", None]}))


def test_comparison_cutoffs_come_from_the_config():
    """The comparators' cut-offs are DedupConfig fields: the defaults are today's, and a tuned value
    reaches the comparison (a street spelled a little differently stops being 'similar')."""
    from dedup.compare import ComparisonCutoffs

    rec = normalize_records(
        pd.DataFrame(
            [
                {"record_id": "a", "last_name": "tremblay", "street": "12 main st"},
                {"record_id": "b", "last_name": "trenblai", "street": "12 maine st"},
            ]
        )
    )
    li, ri = np.array([0]), np.array([1])
    scorer = Scorer(rec, DedupConfig())
    default, plain = scorer.levels(li, ri), compare_pairs(scorer.prep, li, ri)
    assert all(np.array_equal(default[f], plain[f]) for f in FIELD_NAMES)
    assert default["street"][0] == 1 and default["last_name"][0] == 1  # similar (two edits: not "fuzzy")
    strict = DedupConfig(
        comparison=ComparisonCutoffs(street_similar=99.0, last_name_similar=0.99, last_name_fuzzy=0.99)
    )
    tuned = Scorer(rec, strict).levels(li, ri)
    assert tuned["street"][0] == 0 and tuned["last_name"][0] == 0


# nickname pairs the nicknames library knows and our former 70-row hand table did not
LIBRARY_NICKNAMES = [("jake", "jacob"), ("sally", "sarah"), ("molly", "mary"), ("ike", "isaac")]


@pytest.mark.parametrize("nick,full", LIBRARY_NICKNAMES)
def test_library_nicknames_compare_at_nickname_level(nick: str, full: str) -> None:
    from dedup.compare import FIELDS, compare_pairs, prepare

    rec = normalize_records(pd.DataFrame({"first_name": [nick, full, "peter"], "last_name": ["x", "x", "x"]}))
    lv = compare_pairs(prepare(rec), np.array([0, 0, 2]), np.array([1, 1, 1]))["first_name"]
    labels = FIELDS[0].levels
    assert labels[lv[0]] == "nickname" and labels[lv[2]] == "different", (nick, full)


def test_second_address_line_on_one_side_only_is_a_similar_street() -> None:
    """ "33 eungella st" inside "33 eungella st victoria mill estate" (same house number and street
    name; the other side lacks the second line) is the same address, but a shared building name
    behind another house number and street is not."""
    from dedup.compare import FIELDS, compare_pairs, prepare

    streets = ["33 eungella st", "33 eungella st victoria mill estate", "1 rosetta village",
               "381 marchant circuit rosetta village"]  # fmt: skip
    rec = normalize_records(pd.DataFrame({"street": streets, "last_name": ["x"] * 4}))
    lv = compare_pairs(prepare(rec), np.array([0, 2]), np.array([1, 3]))["street"]
    labels = FIELDS[4].levels
    assert [labels[v] for v in lv] == ["similar", "different"]


@st.composite
def _near(draw, alphabet: str, min_size: int, max_size: int) -> tuple[str, str]:
    """A value and another one, zero, one or two random edits (substitution, insertion, deletion,
    transposition of neighbours) away: near values are where the one-edit level is decided."""
    a = draw(st.text(alphabet, min_size=min_size, max_size=max_size))
    b = a
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, max(len(b) - 1, 0)))
        c = draw(st.sampled_from(alphabet))
        kind = draw(st.sampled_from(["sub", "ins", "del", "swap"]))
        if kind == "sub" and b:
            b = b[:i] + c + b[i + 1 :]
        elif kind == "ins":
            b = b[:i] + c + b[i:]
        elif kind == "del" and len(b) > 1:
            b = b[:i] + b[i + 1 :]
        elif kind == "swap" and i + 1 < len(b):
            b = b[:i] + b[i + 1] + b[i] + b[i + 2 :]
    return a, b


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_near("0123", 3, 8), min_size=1, max_size=6),
    st.lists(_near("aelnr", 3, 9), min_size=1, max_size=6),
)
def test_the_one_edit_level_is_exactly_an_osa_distance_of_one(phones, names) -> None:
    """The comparators skip most pairs before they measure a one-edit distance (lengths, the two ends,
    equal-length codes compared as bytes): whatever the values, the level says what OSA says. Few
    letters, so that repeated ones meet Jaro-Winkler's matching window ("lewrence"/"lawrence" is one
    edit but JW 0.796)."""
    from rapidfuzz.distance import OSA, JaroWinkler

    from dedup.compare import ComparisonCutoffs, prepare
    from dedup.engine import ensure_columns

    n = max(len(phones), len(names))
    phones, names = (phones * n)[:n], (names * n)[:n]
    rows = [{"record_id": f"{i}{s}", "phone": p[k], "last_name": nm[k]}
            for i, (p, nm) in enumerate(zip(phones, names, strict=True)) for k, s in enumerate("lr")]  # fmt: skip
    prep = prepare(ensure_columns(pd.DataFrame(rows)))
    li, ri = np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)
    lv = compare_pairs(prep, li, ri)
    cut = ComparisonCutoffs()

    def one(a: str, b: str) -> bool:
        return a != b and min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1

    for i, ((pa, pb), (na, nb)) in enumerate(zip(phones, names, strict=True)):
        assert (lv["phone"][i] == 2) == one(pa, pb), (pa, pb)
        fuzzy = na != nb and (JaroWinkler.normalized_similarity(na, nb) >= cut.last_name_fuzzy or one(na, nb))
        assert (lv["last_name"][i] == 2) == fuzzy, (na, nb)


def test_ensure_columns_gives_every_id_one_text_form_whatever_it_receives() -> None:
    """Account ids arrive as integers, floats from a nullable column, texts with ".0" or leading zeros,
    or as canonical texts already (a run passes records through several times: those are kept as
    they are, the rest parsed): every one ends as the integer's text."""
    from dedup.engine import ensure_columns

    forms = {
        "ints": pd.Series([1001, 7, None], dtype="Int64"),
        "floats": pd.Series([1001.0, 7.0, np.nan]),
        "texts": pd.Series(["1001.0", "007", None], dtype="string"),
        "objects": pd.Series(["1001", "7", None], dtype=object),
        "canonical": pd.Series(["1001", "7", None], dtype="string"),
    }
    for name, acct in forms.items():
        out = ensure_columns(pd.DataFrame({"record_id": ["a", "b", "c"], "acct_id": acct}))
        assert out["acct_id"].tolist()[:2] == ["1001", "7"] and pd.isna(out["acct_id"].iloc[2]), name
        assert isinstance(out["acct_id"].dtype, pd.StringDtype), name


_ODD_TEXT = st.one_of(
    st.none(), st.just(float("nan")), st.text(max_size=6), st.sampled_from(['a"b', "a\\b", "é", "名"])
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(_ODD_TEXT, _ODD_TEXT, st.integers(-3, 3), st.one_of(st.none(), st.booleans(), st.integers(0, 2),
                                                                   st.floats(allow_nan=True, allow_infinity=True))),
        min_size=1, max_size=12,
    ),
    st.sampled_from(["object", "str"]),
)  # fmt: skip
def test_account_row_hashes_column_wise_equal_the_row_dict_hashes(rows, text_dtype):
    """golden_accounts hashes its rows column-wise; a hash that differs from the row-dict definition
    would re-send every account. Text (None, NaN, quotes, non-ASCII), integers and mixed objects
    (True, 1 and 1.0 are equal to pandas but not in JSON) give the same hashes both ways."""
    from dedup.account_table import _hash, row_hashes

    frame = pd.DataFrame(rows, columns=["name", "crm_account_id", "update_fields", "mixed"])
    frame["name"] = frame["name"].astype(text_dtype) if text_dtype == "str" else frame["name"]
    assert row_hashes(frame) == [_hash(r) for r in frame.to_dict("records")]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(1, 5)), st.integers(0, 2), st.integers(0, 9)),
        max_size=25,
    ),
    st.lists(st.integers(1, 5), min_size=1, max_size=6),
    st.integers(1, 4),
)
def test_account_facts_are_each_accounts_own_plan_and_ticket_sums(rows, accounts, recent):
    """The ranking's facts per account: plan holder this season / last season, tickets in the recent
    seasons -- summed over that account's own fact rows only (facts of other accounts ignored, a
    missing season rank counts nowhere)."""
    from dedup.ranking import account_facts

    facts = pd.DataFrame(rows, columns=["acct_id", "season_rank", "plan_rows", "ticket_rows"])
    out = account_facts(pd.Series(accounts + accounts[:1]), facts, recent)
    assert list(out.index) == list(dict.fromkeys(str(a) for a in accounts))
    for acct in out.index:
        mine = [r for r in rows if str(r[0]) == acct and r[1] is not None]
        assert out.loc[acct, "current"] == int(sum(r[2] for r in mine if r[1] == 1) > 0)
        assert out.loc[acct, "prior"] == int(sum(r[2] for r in mine if r[1] == 2) > 0)
        assert out.loc[acct, "recent"] == sum(r[3] for r in mine if r[1] <= recent)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-(2**62), 2**62), max_size=40),
    st.lists(st.integers(-(2**62), 2**62), max_size=15),
    st.randoms(use_true_random=False),
)
def test_member_is_isin(values, keys, rnd):
    """The pair keys' hash look-up (clustering and nicknames) answers as ``np.isin``, repeats included."""
    from dedup.arrays import member

    values = values + [rnd.choice(keys) for _ in range(len(keys))] if keys else values
    v, k = np.array(values, dtype=np.int64), np.array(keys + keys[:2], dtype=np.int64)
    assert (member(v, k) == np.isin(v, k)).all() and member(v, k).dtype == bool


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.sampled_from(["ann", "bo", "ann b", "Zoë", "x"])] * 6), min_size=1, max_size=30))
def test_stored_term_frequencies_are_the_full_runs(rows):
    """An incremental run weighs an exact agreement by the value's frequency stored at the last full
    run (``name_freq``): for records the full run saw, each record's frequency is the one the full run
    computed; a value it never stored counts as held by one record."""
    from dedup.compare import TF_FIELDS, prepare
    from dedup.engine import ensure_columns, name_frequencies, stored_term_frequencies
    from dedup.model import term_frequencies

    records = ensure_columns(
        pd.DataFrame(rows, columns=list(TF_FIELDS)).assign(record_id=[str(i) for i in range(len(rows))])
    )
    full = term_frequencies(prepare(records))
    stored = stored_term_frequencies(records, name_frequencies(records))
    for f in TF_FIELDS:
        assert np.allclose(stored[f], full[f]), f
    unseen = records.assign(first_name="never stored", email=None)
    again = stored_term_frequencies(unseen, name_frequencies(records))
    assert np.allclose(again["first_name"], 1 / len(rows)) and np.allclose(again["email"], 1 / len(rows))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=1, max_size=6), min_size=1, max_size=4),
    st.data(),
)
def test_take_text_is_indexing(chunks, data):
    """The pairs' record ids are taken by position from the records' id column, chunked as DuckDB and
    pandas hand it over: the same values, missing ones kept, in the positions' order."""
    import pyarrow as pa

    from dedup.arrays import take_text

    flat = [v for c in chunks for v in c]
    positions = data.draw(st.lists(st.integers(0, len(flat) - 1), max_size=20))
    values = pa.chunked_array([pa.array(c, pa.large_string()) for c in chunks])
    taken = take_text(values, np.array(positions, dtype=np.int64))
    assert taken.type == pa.large_string() and taken.to_pylist() == [flat[i] for i in positions]


_NUMBER_TEXT = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15).map(str),
    st.integers(0, 999).map(lambda i: f"00{i}"),
    st.floats(-1e6, 1e6, allow_nan=False).map(str),
    st.text(alphabet="0123456789 -+.e", max_size=8),
    st.text(max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_NUMBER_TEXT, max_size=30), st.sampled_from(["string", "object"]))
def test_whole_numbers_parse_as_pandas_does(values, dtype):
    """Account ids and flags read as text become the whole numbers pandas' ``to_numeric`` reads in
    them ("007" is 7, " 12" is 12, "4.0" is 4); anything else -- a fraction, a word, nothing -- is
    missing, never an error (a deterministic link compares these numbers)."""
    from dedup.arrays import whole_numbers

    got = whole_numbers(pd.Series(values, dtype=dtype))
    assert str(got.dtype) == "Int64"
    for v, g in zip(values, got.tolist(), strict=True):
        try:
            num = float(pd.to_numeric(pd.Series([v], dtype=object), errors="coerce").iloc[0])
        except (TypeError, ValueError):
            num = float("nan")
        want = int(num) if abs(num) < 2.0**53 and num == round(num) else None
        assert (None if g is pd.NA else g) == want, (v, g, want)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=40),
    st.sets(st.text(max_size=6), max_size=15),
    st.sampled_from(["string", "object"]),
)
def test_in_ids_is_membership_of_the_text(values, ids, dtype):
    """Ids tested against a frame's text column (holds, protected contacts, changed records) answer
    as plain set membership, on Arrow-backed and object columns alike; a missing value is never in."""
    from dedup.arrays import in_ids

    values = values + sorted(ids)[:3]
    got = in_ids(pd.Series(values, dtype=dtype), ids)
    assert got.dtype == bool and got.tolist() == [v is not None and v in ids for v in values]


_KEY_TEXT = st.one_of(st.text(max_size=12), st.text(alphabet="0123456789 :", min_size=8, max_size=24))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), _KEY_TEXT.map(lambda t: "phone:" + t)), max_size=40))
def test_blocking_key_codes_are_equal_exactly_where_the_keys_are(keys: list[str | None]) -> None:
    """Blocking compares codes instead of key texts (``dedup.records.key_codes``): two records share a
    code when, and only when, they share a key, and a record without a key has no code. The first
    two keys gave one code under DuckDB's ``hash`` (with hundreds of others at a million accounts)."""
    keys = ["phone:12255280675", "phone:19255280625", *keys]
    codes = key_codes({"email": pd.Series(keys, dtype="string")})["k_email"]
    assert str(codes.dtype) == "Int64"
    assert codes.isna().tolist() == [k is None for k in keys]
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            if a is not None and b is not None:
                assert (codes[i] == codes[j]) == (a == b)


def test_blocking_key_codes_are_bigint_columns_on_sql_server() -> None:
    """On SQL Server the dedup tables are created from the frames' dtypes: the nullable Int64 codes
    (and other nullable numbers and flags) are bigint / int / bit columns there, text nvarchar --
    the codes were created as nvarchar before, stored, compared and read back as text."""
    from kore.warehouse import mssql_column_types

    codes = key_codes({"email": pd.Series(["email:ann@example.org", None], dtype="string")})
    df = codes.assign(
        record_id=["a1", "a2"],
        n=np.array([1, 2]),
        small=pd.array([1, None], dtype="Int32"),
        flag=pd.array([True, None], dtype="boolean"),
        score=pd.array([0.5, None], dtype="Float64"),
    )
    assert mssql_column_types(df) == [
        ("k_email", "bigint"),
        ("record_id", "nvarchar(4000)"),
        ("n", "bigint"),
        ("small", "int"),
        ("flag", "bit"),
        ("score", "float"),
    ]
