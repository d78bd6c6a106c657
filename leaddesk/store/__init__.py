"""Persistence: SQLAlchemy models, engine and session setup, the migrations runner."""
