"""The parts of bench/webhook_fanout.py.

roles   the receiver and the probe, children started as the script itself in another role
report  what the phases measured, and the tables printed from it
"""
