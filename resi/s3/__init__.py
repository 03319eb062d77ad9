"""resi.s3"""
