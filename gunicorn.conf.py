"""gunicorn settings for serving Heroes in production (`make serve`)."""

import multiprocessing
import os

# Keep database connections across requests: opening one per request costs more than
# the page on PostgreSQL (bench/RESULTS.md). Set 0 when PgBouncer pools them instead.
os.environ.setdefault("DJANGO_CONN_MAX_AGE", "60")

wsgi_app = "heroes_site.wsgi:application"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
# Threads let one worker wait on the database while another request runs.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Recycle workers now and then, so a slow leak never grows without bound.
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
