# The project image: one image for the worker (`python -m streams worker`), the API
# (`python -m recommender serve`), the trainer and the traffic generator (`python -m loadtest`).
# docker-compose.yml picks the command per service; configuration is environment only
# (KAFKA_BOOTSTRAP, REDIS_URL, RECO_*; see recommender/settings.py).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall faiss, numpy and friends: install
# the project's requirements from pyproject.toml with stub packages, then the real code.
COPY pyproject.toml README.md ./
RUN mkdir -p schemas recommender streams loadtest \
    && touch schemas/__init__.py recommender/__init__.py streams/__init__.py loadtest/__init__.py \
    && pip install . \
    && pip uninstall -y travel-reco

COPY schemas schemas
COPY recommender recommender
COPY streams streams
COPY loadtest loadtest
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app reco \
    && mkdir -p /app/.run/models \
    && chown -R reco /app/.run

USER reco
# 8080: API (RECO_API_PORT); 9101: worker /metrics (RECO_METRICS_PORT).
EXPOSE 8080 9101
CMD ["python", "-m", "recommender", "serve"]
