{#- Singular test: an active ticket must not have a later returned row for the same account, event,
    section, row and seat (the cancellation half of the active-ticket rule, checked on real data). -#}
select active.ticket_key
from {{ ref('int_tickets_activated') }} as active
inner join {{ ref('stg_archtics__tickets') }} as returned
    on
        active.acct_id = returned.acct_id
        and active.event_id = returned.event_id
        and active.section_id = returned.section_id
        and active.row_id = returned.row_id
        and active.seat_num = returned.seat_num
where
    returned.ticket_status = 'R'
    and returned.upd_datetime > active.upd_datetime
