# One image for every service and the gateway; docker-compose.yml picks the class to run.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY config.yaml ./
COPY contracts ./contracts
COPY gateway ./gateway
COPY scripts ./scripts
COPY services ./services

RUN useradd --system --no-create-home studio
USER studio

# Whichever service a container runs (PID 1's command line): its ping RPC, or the gateway's
# GET /health. docker-compose.yml sets only the timings.
HEALTHCHECK --interval=10s --timeout=10s --start-period=20s --retries=5 \
    CMD ["python", "-m", "scripts.healthcheck"]

# docker-compose.yml gives each container its own `nameko run ... <module:Class>`
CMD ["nameko", "run", "--config", "config.yaml", "gateway.service:GatewayService"]
