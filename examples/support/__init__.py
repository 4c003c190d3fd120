"""The support agent of Octavus's protocol documentation, as an agentchat protocol folder."""
