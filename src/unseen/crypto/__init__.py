"""Cryptographic primitives. Only vetted libraries do the arithmetic:
``cryptography`` (OpenSSL) for X25519 and AES, gmpy2 (GMP) for big integers."""
