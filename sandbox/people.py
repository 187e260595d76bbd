"""Name, address and company pools plus the small edits that make one person look like two.

Faker is slow per row (tens of microseconds a call), so it is used once to draw *pools* (streets,
cities, companies) and its weighted first/last name tables; the generator then picks from the pools
with numpy. The edit helpers (typos, transposed digits, nicknames) are pure functions so the
duplicate scenarios are easy to read and to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from faker import Faker
from faker.providers.person.en_US import Provider as PersonProvider

# Common English nicknames: the same person registers as Robert once and as Bob later.
NICKNAMES: dict[str, str] = {
    "Robert": "Bob", "William": "Bill", "Katherine": "Kate", "Elizabeth": "Liz", "Michael": "Mike",
    "James": "Jim", "Richard": "Rick", "Thomas": "Tom", "Christopher": "Chris", "Daniel": "Dan",
    "Matthew": "Matt", "Anthony": "Tony", "Joseph": "Joe", "Jennifer": "Jen", "Margaret": "Peggy",
    "Patricia": "Pat", "Steven": "Steve", "Andrew": "Andy", "Jonathan": "Jon", "Nicholas": "Nick",
    "Benjamin": "Ben", "Samuel": "Sam", "Alexander": "Alex", "Edward": "Ed", "Timothy": "Tim",
    "Kenneth": "Ken", "Charles": "Charlie", "Susan": "Sue", "Deborah": "Debbie", "Rebecca": "Becky",
    "Jessica": "Jess", "Christine": "Chris", "Victoria": "Vicky", "Gabriel": "Gabe", "David": "Dave",
    "Joshua": "Josh", "Gregory": "Greg", "Donald": "Don", "Ronald": "Ron", "Jacob": "Jake",
    "Zachary": "Zach", "Nathan": "Nate", "Catherine": "Cathy", "Kimberly": "Kim", "Stephanie": "Steph",
    "Samantha": "Sam", "Jacqueline": "Jackie", "Abigail": "Abby", "Barbara": "Barb", "Cynthia": "Cindy",
    "Pamela": "Pam", "Theresa": "Terry", "Alexandra": "Alex", "Douglas": "Doug", "Raymond": "Ray",
}  # fmt: skip

PERSONAL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
                    "comcast.net", "att.net", "live.com", "protonmail.com"]  # fmt: skip
STATES = [
    ("AL", "Alabama"), ("AK", "Alaska"), ("AZ", "Arizona"), ("AR", "Arkansas"), ("CA", "California"),
    ("CO", "Colorado"), ("CT", "Connecticut"), ("DE", "Delaware"), ("FL", "Florida"), ("GA", "Georgia"),
    ("HI", "Hawaii"), ("ID", "Idaho"), ("IL", "Illinois"), ("IN", "Indiana"), ("IA", "Iowa"),
    ("KS", "Kansas"), ("KY", "Kentucky"), ("LA", "Louisiana"), ("ME", "Maine"), ("MD", "Maryland"),
    ("MA", "Massachusetts"), ("MI", "Michigan"), ("MN", "Minnesota"), ("MS", "Mississippi"),
    ("MO", "Missouri"), ("MT", "Montana"), ("NE", "Nebraska"), ("NV", "Nevada"), ("NH", "New Hampshire"),
    ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NY", "New York"), ("NC", "North Carolina"),
    ("ND", "North Dakota"), ("OH", "Ohio"), ("OK", "Oklahoma"), ("OR", "Oregon"), ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"), ("SC", "South Carolina"), ("SD", "South Dakota"), ("TN", "Tennessee"),
    ("TX", "Texas"), ("UT", "Utah"), ("VT", "Vermont"), ("VA", "Virginia"), ("WA", "Washington"),
    ("WV", "West Virginia"), ("WI", "Wisconsin"), ("WY", "Wyoming"), ("DC", "District of Columbia"),
]  # fmt: skip
INDUSTRIES = ["Accounting", "Banking", "Construction", "Consulting", "Education", "Energy", "Financial",
              "Government", "Healthcare", "Hospitality", "Insurance", "Legal", "Manufacturing", "Media",
              "Real Estate", "Retail", "Technology", "Telecommunications", "Transportation", "Utilities"]  # fmt: skip

# Fixed companies of the seed document's example (a person whose old Archtics account is outdated).
GABRIEL_CURRENT_EMPLOYER = "Sporting Service Solutions Inc"
GABRIEL_OLD_EMPLOYER = "TryNowDo Ltd"


@dataclass(frozen=True)
class Pools:
    """Value pools drawn once per seed. Arrays are numpy object arrays so fancy indexing is cheap."""

    first_male: np.ndarray
    first_male_p: np.ndarray
    first_female: np.ndarray
    first_female_p: np.ndarray
    last: np.ndarray
    last_p: np.ndarray
    streets: np.ndarray  # street names without number ("Maple Avenue")
    units: np.ndarray  # street_addr_2 values ("Apt. 4")
    cities: np.ndarray  # city names
    city_state: np.ndarray  # state abbreviation for each city
    city_zip: np.ndarray  # 5-digit zip prefix base for each city
    companies: np.ndarray  # company names; index 0/1 are the Gabriel scenario's employers
    company_domains: np.ndarray


def _weights(table: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(list(table.keys()), dtype=object)
    p = np.array(list(table.values()), dtype=float)
    return names, p / p.sum()


def company_domain(name: str) -> str:
    """A plausible e-mail domain for a company name ("Smith, Jones and Lee" -> "smithjonesandlee.com")."""
    base = re.sub(r"[^a-z0-9]", "", name.lower().replace(" and ", "and"))
    return (base[:30] or "company") + ".com"


def build_pools(seed: int, n_companies: int) -> Pools:
    """Draw the pools from Faker once. Deterministic for a seed."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    fm, fm_p = _weights(PersonProvider.first_names_male)
    ff, ff_p = _weights(PersonProvider.first_names_female)
    ln, ln_p = _weights(PersonProvider.last_names)
    streets = np.array(sorted({fake.street_name() for _ in range(4000)}), dtype=object)
    units = np.array([f"{k} {n}" for k in ("Apt.", "Suite", "Unit") for n in range(1, 40)], dtype=object)
    city_set: dict[str, None] = {}
    while len(city_set) < 900:
        city_set[fake.city()] = None
    cities = np.array(list(city_set), dtype=object)
    rng = np.random.default_rng(seed)
    states = np.array([s for s, _ in STATES], dtype=object)
    city_state = states[rng.integers(0, len(states), len(cities))]
    city_zip = rng.integers(1000, 99000, len(cities))
    names: dict[str, None] = {GABRIEL_CURRENT_EMPLOYER: None, GABRIEL_OLD_EMPLOYER: None}
    attempts = 0
    while len(names) < n_companies + 2 and attempts < n_companies * 4:
        names[fake.company()] = None
        attempts += 1
    companies = np.array(list(names), dtype=object)
    domains = np.array([company_domain(c) for c in companies], dtype=object)
    return Pools(fm, fm_p, ff, ff_p, ln, ln_p, streets, units, cities, city_state, city_zip, companies, domains)


# ---- edits that turn one person into a "different-looking" record --------------------------------


def email_address(first: str, last: str, style: int, domain: str) -> str:
    """A personal e-mail address in one of five styles (``style`` also picks the digits)."""
    f = first.lower().replace(" ", "").replace("'", "")
    s = last.lower().replace(" ", "").replace("'", "")
    k = style % 5
    if k == 0:
        user = f"{f}.{s}"
    elif k == 1:
        user = f"{f}{s}"
    elif k == 2:
        user = f"{f[0]}{s}"
    elif k == 3:
        user = f"{f}_{s}{style % 97}"
    else:
        user = f"{s}.{f}{style % 89}"
    return f"{user}@{domain}"


def work_email(first: str, last: str, domain: str) -> str:
    return email_address(first, last, 0, domain)


def typo(name: str, r: int) -> str:
    """One-letter typo of a name (substitute, drop, double or swap a letter), chosen by ``r``."""
    if len(name) < 3:
        return name + name[-1]
    i = 1 + r % (len(name) - 2)
    kind = (r // 7) % 4
    letters = "aeioulnrst"
    if kind == 0:  # substitute
        c = letters[r % len(letters)]
        if c == name[i].lower():
            c = letters[(r + 1) % len(letters)]
        return name[:i] + c + name[i + 1 :]
    if kind == 1:  # drop
        return name[:i] + name[i + 1 :]
    if kind == 2:  # double
        return name[: i + 1] + name[i] + name[i + 1 :]
    if name[i] == name[i + 1]:  # swap would be invisible: substitute instead
        return name[:i] + ("e" if name[i] != "e" else "a") + name[i + 1 :]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def transpose_digits(phone10: int, r: int) -> int:
    """Swap two adjacent, different digits among the last seven of a 10-digit phone number."""
    d = list(f"{phone10:010d}")
    for k in range(7):
        i = 3 + (r + k) % 6
        if d[i] != d[i + 1]:
            d[i], d[i + 1] = d[i + 1], d[i]
            return int("".join(d))
    d[9] = str((int(d[9]) + 1) % 10)  # all digits equal: change the last one
    return int("".join(d))


def format_phone(phone10: int, style: int) -> str:
    """Format a 10-digit number in one of the styles people type ("(617) 555-0101", "617.555.0101")."""
    d = f"{phone10:010d}"
    k = style % 4
    if k == 0:
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    if k == 1:
        return f"{d[:3]}-{d[3:6]}-{d[6:]}"
    if k == 2:
        return f"{d[:3]}.{d[3:6]}.{d[6:]}"
    return d
