"""resi.cli"""
