{#- Singular test: an active ticket must not have a later returned row for the same account, event,
    section, row and seat (the cancellation half of the active-ticket rule, checked on real data).
    Checks the rows the latest run of fct_ticket_purchases re-decided (all rows after a full build):
    those are the only rows a run can have got wrong. -#}
select active.ticket_key
from {{ ref('fct_ticket_purchases') }} as active
inner join {{ ref('stg_archtics__tickets') }} as returned
    on
        active.acct_id = returned.acct_id
        and active.event_id = returned.event_id
        and active.section_id = returned.section_id
        and active.row_id = returned.row_id
        and active.seat_num = returned.seat_num
where
    active.is_active = 1
    and active.batch_load_id = (
        select max(latest.batch_load_id) from {{ ref('fct_ticket_purchases') }} as latest
    )
    and returned.ticket_status = 'R'
    and returned.upd_datetime > active.upd_datetime
