"""Entry point for `flask --app wsgi` and for gunicorn (`gunicorn wsgi:app`)."""

import os

from dotenv import load_dotenv

load_dotenv()

from crm import create_app  # noqa: E402  (the environment must be loaded first)

# gunicorn's workers only serve requests: the `flask` commands (migrations, backups, imports,
# the job runner) and the libraries only they use stay out of them. The flask command line
# sets FLASK_RUN_FROM_CLI before it loads this module.
app = create_app(commands=os.environ.get("FLASK_RUN_FROM_CLI") == "true")
