"""Embedders, the vector store, the ingest ledger and the writer lock."""
