"""Embedders, the vector store, the document store and the writer lock."""
