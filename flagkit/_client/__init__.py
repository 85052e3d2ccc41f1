"""The client (private): ``Flags`` and the collaborators it delegates to."""
