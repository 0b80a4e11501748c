"""Active-learning strategies: registry, built-ins and their shared math."""
