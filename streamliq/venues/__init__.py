"""Venues as plug-ins: everything one exchange owns lives in one module here (DESIGN.md).

`specs` holds contract specifications, the one place where venue quantities become the
engine's units (FACTORS.md section 9).
"""
