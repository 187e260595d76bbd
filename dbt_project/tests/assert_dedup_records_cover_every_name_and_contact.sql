{#- Singular test: the dedup input has one record per Archtics name and per CRM contact, no more,
    no fewer (a join that fans out or drops people would corrupt every cluster).
    Tagged code_invariant, for the reason given for dedup_person_records' key test
    (models/dedup/_dedup__models.yml). -#}
{{ config(tags=['code_invariant']) }}

with expected as (

    select
        (select count(*) from {{ ref('stg_archtics__custs') }})
        + (select count(*) from {{ ref('stg_crm__contacts') }}) as expected_rows

),

actual as (

    select count(*) as actual_rows
    from {{ ref('dedup_person_records') }}

)

select
    expected.expected_rows,
    actual.actual_rows
from expected
cross join actual
where expected.expected_rows <> actual.actual_rows
