-- MLflow keeps its runs in a database of its own next to Temporal's.
CREATE DATABASE mlflow;
