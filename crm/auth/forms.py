from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from crm.forms import CrmForm, NoControlCharacters


class LoginForm(CrmForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), NoControlCharacters()])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
