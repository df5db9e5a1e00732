"""The path of every event: receiver (store the raw delivery) → pipeline (parse in batches) → store."""
