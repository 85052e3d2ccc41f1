#!/usr/bin/env python
"""manage.py of the real Django project the server tests run (gunicorn, uvicorn)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
