"""Teams intake: the outgoing webhook and bot endpoints, chat commands, the Teams app package."""
