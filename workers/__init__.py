"""The workers: functions no API route calls. Each is a package workers/<name>/ and a row of workers/table.py."""
