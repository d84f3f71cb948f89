"""ELLA's HTTP JSON API v1 as a WSGI application on the standard library (run by gunicorn)."""
