FROM python:3.11.11-slim
# Versions come from python/requirements.txt, the one list of pins for the local venv and this
# image, used as constraints: only MLflow and its PostgreSQL driver are installed here.
COPY python/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -c /tmp/requirements.txt mlflow psycopg2-binary \
    && rm /tmp/requirements.txt
EXPOSE 5000
