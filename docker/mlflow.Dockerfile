FROM python:3.11.11-slim
# Versions come from python/requirements.txt, the one list of pins for the local venv and this
# image, used as constraints: only MLflow, its PostgreSQL driver and what its basic-auth app
# needs (Flask-WTF) are installed here.
COPY python/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -c /tmp/requirements.txt mlflow psycopg2-binary flask-wtf \
    && rm /tmp/requirements.txt
EXPOSE 5000
