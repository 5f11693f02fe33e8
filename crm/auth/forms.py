from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from crm.forms import CrmForm


class LoginForm(CrmForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
