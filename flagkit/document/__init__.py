"""The flag document: bytes in, a validated document out.

``reader`` turns bytes into a plain document (YAML 1.2 or JSON, safe and bounded, with line
marks for errors), ``cost`` bounds the evaluation work a document can create, ``schema`` holds
the pydantic models of the format (and its JSON Schema), ``definitions`` keeps what a flag set
retains of its definitions, and ``regex_safety`` refuses patterns that backtrack catastrophically.
Nothing here compiles, evaluates, starts a thread or reads the clock.
"""
