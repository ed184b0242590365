"""A clinic's knowledge base: articles per language, searched with PostgreSQL full-text search."""
