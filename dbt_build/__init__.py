"""The dbt stage: running dbt on the configured warehouse, scoped to what changed."""
