"""kernelmagic's version: read by the package, the build (pyproject) and exported notebooks."""

__version__ = "0.1.0"
