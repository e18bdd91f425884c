"""The parts of bench/installed_startup.py.

dockerfile  the Dockerfile's runtime stage: ENV, ENTRYPOINT/CMD, HEALTHCHECK
wheel       the wheel, built and installed into a fresh virtual environment
"""
