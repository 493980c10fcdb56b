"""`python -m orderscope.cli …` runs the command line."""

from orderscope.cli import app

app()
