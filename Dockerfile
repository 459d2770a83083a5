# One image for every process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    EXCHANGE_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --system --create-home --home-dir /home/exchange exchange
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files are collected at build time; the secret is a build-only placeholder.
RUN DEBUG=false SECRET_KEY=collectstatic-only API_KEY_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && mkdir -p var && chown exchange:exchange var
USER exchange
EXPOSE 8000 8001 5555
# The web pool (Procfile `web:`); compose runs the stream process (`stream:`) from the same image.
CMD ["gunicorn", "--config", "exchange/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
