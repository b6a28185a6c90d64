"""The release check CodeDeploy runs before traffic shifts; only handler.py ships."""
