"""The evidence package behind ``pumpctl verify``: collection, crediting, records, rendering.

Theory of operation
-------------------
Everything that turns verification results into what a reviewer reads lives here, apart
from the code that produces the results (``proofs/`` engine, contracts, mutants, walk):

- ``collect`` runs every activity once; ``build`` joins the outcomes to ``specs/`` and
  computes the verdicts; ``credit`` decides which stateful and random items count for a
  requirement from their recorded coverage; ``scope`` labels every claim with its strength;
- ``risk`` (ISO 14971), ``use_errors`` (IEC 62366), ``iec62304`` and ``security`` build the
  regulatory records from data in ``specs/`` and from the repository itself;
- ``render*``, ``svg`` and ``templates/`` write the report; ``artefacts``, ``sbom`` and
  ``signing`` the machine-readable files; ``package`` writes them all.

Rules
1. Layering: this package imports ``controller``, ``specs`` and the rest of ``proofs``;
   nothing outside it imports it except the ``verify`` command.
2. Importing a module here is cheap: heavy tools (Z3, jinja2, cryptography) are imported
   inside the functions that need them.
"""
