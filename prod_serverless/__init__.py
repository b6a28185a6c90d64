"""Constructs of ProdServerlessStack, one module per concern."""
