"""The CRM console: server-rendered pages for analysts and admins inside the API process.

Import-light on purpose: settings and the worker import ``console.config`` and
``console.overrides``; the web parts (FastAPI, Jinja2) load only with ``console.mount``.
"""
