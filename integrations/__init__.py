"""One package per external system. Each is a translator: vendor bytes in, normalised records out."""
