"""Stand-in for dbt's ``adapter`` when sqlfluff renders the models (see dbt.py)."""


def dispatch(macro_name, macro_namespace=None):
    """Render a dispatched macro call as a plain function call of the same name and arguments."""

    def call(*args, **kwargs):
        return f"{macro_name}({', '.join(str(a) for a in args)})"

    return call


def quote(identifier):
    return f'"{identifier}"'


def get_relation(database=None, schema=None, identifier=None):
    return identifier


def get_columns_in_relation(relation):
    return []
