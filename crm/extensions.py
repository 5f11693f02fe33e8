"""Extensions are created bare here and bound to the app in create_app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from crm.database import Base

# create_savepoint lets tests wrap each test in an outer transaction that the app's commits
# cannot end; against an ordinary engine it changes nothing. Objects keep their loaded values
# after a commit so a later change still knows its "before" for the audit trail.
db = SQLAlchemy(
    model_class=Base,
    session_options={"join_transaction_mode": "create_savepoint", "expire_on_commit": False},
)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# in_memory_fallback keeps the public form up when the Redis storage is down.
limiter = Limiter(
    key_func=get_remote_address,
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)
