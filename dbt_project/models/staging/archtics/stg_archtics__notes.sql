{#- stg_archtics__notes: one row per note / task stage.
    Typed copy of raw_archtics.note (every value arrives as text); the newest upd_datetime wins per business key
    (note_id, task_stage_seq_num). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'note_id': 'bigint',
    'acct_id': 'bigint',
    'add_user': 'varchar',
    'add_datetime': 'timestamp',
    'note_type': 'varchar',
    'upd_datetime': 'timestamp',
    'upd_user': 'varchar',
    'contact_category': 'varchar',
    'contact_subcategory': 'varchar',
    'contact_response': 'varchar',
    'contact_type': 'varchar',
    'task_type': 'varchar',
    'text': 'varchar',
    'priority': 'varchar',
    'alert_id': 'varchar',
    'alert_name': 'varchar',
    'task_stage_seq_num': 'bigint',
    'task_activity_code': 'varchar',
    'task_result_code': 'varchar',
    'task_stage_status_code': 'varchar',
    'task_activity': 'varchar',
    'task_result': 'varchar',
    'task_stage_status': 'varchar',
    'task_assigned_to_user_id': 'varchar',
    'task_assigned_to_dept_id': 'varchar',
    'task_dept_name': 'varchar',
    'task_assignee_notified': 'varchar',
    'task_duration': 'varchar',
    'task_stage_text': 'varchar',
    'task_start_date': 'date',
    'task_end_date': 'date',
    'task_probability_to_close': 'varchar',
    'task_probability_to_close_name': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'note'),
    columns,
    ['note_id', 'task_stage_seq_num'],
    'upd_datetime desc, load_id desc, source_line desc'
) }}

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when lower(ltrim(text)) like 'merged account %' then 1 else 0 end as is_account_merge,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
