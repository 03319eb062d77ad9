"""resi.chain"""
