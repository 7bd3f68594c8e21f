"""neurophase"""
