"""Code the tests load into the real processes (never imported by the product)."""
