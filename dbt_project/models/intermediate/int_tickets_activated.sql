{#- int_tickets_activated: the seats an account actually holds (Archtics active-ticket rule, see
    macros/active_tickets.sql): active per-event rows, and active plan-level rows Archtics has not
    expanded into per-event rows, minus rows cancelled by a later return of the same seat. -#}

with {{ kore_activated_tickets(ref('stg_archtics__tickets')) }}

select * from activated_tickets
