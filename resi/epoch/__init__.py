"""resi.epoch"""
