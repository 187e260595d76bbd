"""Reconciliation audits: cross-table and cross-system checks that GX suites cannot express.

Each audit is a function ``(ctx) -> CheckResult`` in plain SQL/pandas: it names the check and the
table, counts the failing rows and gives a few example *keys* (never names or e-mail addresses).
An audit whose inputs are missing returns a ``skipped`` result, so a partial pipeline can be
checked; the suites (see ``expectations.claims``) catch a table that should exist but does not.

Why these audits: they are the promises the migration makes to a client: every exported row is
either in the replica or in quarantine; ticket counts and revenue survive modelling; every Archtics
account ends up with exactly one CRM contact (or is excluded, or waits for a person); no CRM
contact gets two primary accounts (which would let two Archtics accounts overwrite it); and every
reference between the modelled tables holds. The promises that need the source systems' own state
(the replica equals live Archtics, what the push says it wrote is what the CRM holds) are checked
by plug-ins (``kore.contracts.checks``; the sandbox's are in ``sandbox/checks.py``).

Modules: :mod:`.context` (what an audit reads through), :mod:`.landing` (raw layer),
:mod:`.tickets` (marts), :mod:`.mapping` (dedup), :mod:`.references` (every layer) and
:mod:`.catalog` (the list the runner uses, plus the plug-ins).
"""
