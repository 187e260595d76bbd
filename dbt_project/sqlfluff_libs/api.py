"""Stand-in for dbt's ``api`` namespace when sqlfluff renders the models (see dbt.py)."""
