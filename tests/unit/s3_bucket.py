"""The bucket the `s3` fixture (tests/unit/conftest.py) creates: the stores under test are built on it."""

BUCKET = "staging"
REGION = "eu-west-1"
