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

# docker-compose.yml gives each container its own `nameko run ... <module:Class>`
CMD ["nameko", "run", "--config", "config.yaml", "gateway.service:GatewayService"]
