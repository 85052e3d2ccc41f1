"""The evaluation engine (private): validated definitions in, resolvers out.

``compiler`` turns a document into ``CompiledFlag`` resolvers from ``conditions`` (attribute
lookup, combinators, segments) over the ``operators`` package, ``splits`` and the bucketing
``schemes``, ``ramps`` and ``interning``. Pure: no I/O, threads, logging or clock reads except what
the caller passes in.
"""
