"""Post-incident reviews: content, reminders, action items, problems, and publishing to the knowledge base."""
