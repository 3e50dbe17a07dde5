"""Loaders, legal structure and chunking: files and records in, chunks out."""
