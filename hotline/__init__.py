"""12345 tickets: lifecycle, working-day deadlines, escalation, agents and the console.

Not built yet (issue: hotline).
"""
