FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY healthscore healthscore
COPY schemas schemas
COPY scoring scoring
COPY streams streams
COPY dashboards dashboards
COPY devtools devtools
RUN pip install --no-cache-dir .
USER nobody
CMD ["healthscore", "worker"]
