"""The Lambda function's runtime code; only handler.py ships."""
