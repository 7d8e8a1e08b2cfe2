"""`datagen compare`: how close a synthetic dataset is to a real one (SDMetrics quality, titles, schema)."""
