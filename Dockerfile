FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY scoring scoring
COPY streams streams
COPY dashboards dashboards
RUN pip install --no-cache-dir .
USER nobody
CMD ["healthscore", "worker"]
