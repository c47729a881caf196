from podreconcile.cli.main import entry

entry()
