"""The `kernelmagic` command line: `check`, `optimize`, `sessions`, `export`."""
