"""resi.validate"""
