from levercast.cli import app

app(prog_name="levercast")
