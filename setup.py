"""Package discovery only (metadata, dependencies and package data live in setup.cfg): every package under
deployprof/ is found, never listed by hand (a hand-kept list once left qualify, precision and targets out of the
wheel), plus the preset zoo in models/ installed as deployprof._models. tests/test_wheel.py builds and runs the wheel."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["deployprof", "deployprof.*"]) + ["deployprof._models"])
