"""`datagen real`: a DBQ-schema table (hub dataset or local file) and its images into a DATASET dir."""
