"""resi.scrape"""
