"""Entry point for `flask --app wsgi` and for gunicorn (`gunicorn wsgi:app`)."""

from dotenv import load_dotenv

load_dotenv()

from crm import create_app  # noqa: E402  (the environment must be loaded first)

app = create_app()
