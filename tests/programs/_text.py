"""The corpus the character-level programs train on: the Zen of Python, which every Python
installs (``import this`` stores it ROT13-encoded), repeated so that an epoch has a few
thousand characters. Deterministic and offline."""
import codecs

import this  # noqa: F401  (prints the Zen once on import; the programs silence stdout around it)

TEXT = codecs.decode(this.s, "rot13") * 3
