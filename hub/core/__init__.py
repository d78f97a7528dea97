"""The hub's rules, pure: functions and data over the policy and duck-typed incidents, no I/O."""
