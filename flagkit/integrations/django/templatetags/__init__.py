"""Template tag libraries (``{% load flagkit %}``)."""
