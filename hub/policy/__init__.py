"""The policy file: its model (plain data), loading, and the checks that name line and field."""
