{#- stg_kore_dedup__account_contact_map: the dedup step's mapping table (kore_dedup.account_contact_map),
    typed: each Archtics account's CRM contact (crm_contact_key, the contact's kore_external_key) and
    whether the account is that contact's primary one. The columns dbt models read; the match rule and
    score stay the dedup step's own (`kore dedup explain`). A column the table lacks is a typed null. -#}
{{ kore_typed_select(source('kore_dedup', 'account_contact_map'), {
    'acct_id': 'bigint',
    'crm_contact_key': 'varchar',
    'crm_contact_id': 'varchar',
    'cluster_id': 'varchar',
    'is_primary': 'int',
    'first_seen_at': 'varchar',
    'decided_by': 'varchar',
}) }}
