"""The family closes the loop: the follow-up email after a close, its yes and no links, the
opt-out from family messages, and the public /status page (in English and Spanish)."""
