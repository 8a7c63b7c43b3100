"""Data in: file formats, checks ("data doctor"), built-in offline data sets."""
