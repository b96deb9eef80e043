"""一人一企一档: people, enterprises, documents and licences, applications, reminders.

Not built yet (issue: personal space).
"""
