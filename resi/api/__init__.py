"""resi.api"""
