{#- stg_kore_dedup__golden_contacts: the dedup step's golden contacts (kore_dedup.golden_contacts), typed:
    one row per cluster with the contact fields pushed to the CRM and the CRM account it belongs to.
    Per-field provenance columns stay the dedup step's own. A column the table lacks is a typed null. -#}
{{ kore_typed_select(source('kore_dedup', 'golden_contacts'), {
    'contact_key': 'varchar',
    'crm_contact_id': 'varchar',
    'cluster_id': 'varchar',
    'account_key': 'varchar',
    'first_name': 'varchar',
    'last_name': 'varchar',
    'email': 'varchar',
    'phone': 'varchar',
    'street': 'varchar',
    'city': 'varchar',
    'state': 'varchar',
    'zip5': 'varchar',
    'company': 'varchar',
    'birth_date': 'date',
    'primary_acct_id': 'bigint',
}) }}
