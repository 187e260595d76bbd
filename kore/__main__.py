from kore.cli import app

app()
