"""The recommendation HTTP API (FastAPI on uvicorn)."""
