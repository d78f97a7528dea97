"""Who else hears about an incident: self-service subscribers (email with double opt-in,
Teams, the console) and the members of the Entra groups that audiences name."""
