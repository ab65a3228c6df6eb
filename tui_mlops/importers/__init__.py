"""Importers of other tools' tracking stores (MLflow's file store and SQLite backend) into our store."""
