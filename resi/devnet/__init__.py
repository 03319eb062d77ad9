"""resi.devnet"""
