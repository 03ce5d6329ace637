"""Extraction: department submissions and open-data fetches, landed in the raw schema."""
