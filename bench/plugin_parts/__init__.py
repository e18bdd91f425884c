"""The parts of bench/plugin.py.

cold       server start in a fresh interpreter per run (bench/plugin.py --role cold)
fixture    the aiprod_account fixture's steps, and submit + read, timed in this process
profiling  pyinstrument, for --profile
"""
