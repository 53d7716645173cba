from setuptools import setup

# The recipe folder is shipped as the package data of npuport._recipes (see setup.cfg).
setup(packages=[*__import__("setuptools").find_packages(include=["npuport", "npuport.*"]), "npuport._recipes"])
