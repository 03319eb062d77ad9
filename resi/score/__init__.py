"""resi.score"""
