from recflow.cli import app

app()
