"""The controlled vocabularies a model card names terms of: EU AI Act, NIST AI RMF, MIT AI risks, ISO/IEC.

They ship in the package as versioned JSON (``aifabric/cards/vocabularies/<name>-<version>.json``) and are never
fetched.

Examples:
    >>> from aifabric.cards.vocabulary import vocabulary
    >>> rmf = vocabulary("nist-ai-rmf")
    >>> rmf.version, len(rmf.ids("subcategory")), rmf.term("MEASURE 2.11").parent
    ('1.0', 72, 'MEASURE 2')
"""

from aifabric._vocabularies import EVIDENCE_FRAMEWORKS, RISK_TAXONOMIES, Term, Vocabulary, names, vocabulary

__all__ = ["EVIDENCE_FRAMEWORKS", "RISK_TAXONOMIES", "Term", "Vocabulary", "names", "vocabulary"]
