"""hashshare: a shared database of perceptual hashes of terrorist and violent-extremist content."""

__version__ = "0.1.0"
