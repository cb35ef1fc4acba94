# For Beam's --setup_file (Dataflow packages the project as an sdist from it); all metadata
# lives in pyproject.toml.
from setuptools import setup

setup()
