"""The expert pool: escalated questions, experts' verified answers, published ``qa`` material and
feedback on answers (store.py: the tables; pool.py: asking, claiming, answering; review.py:
publishing, editing, withdrawing, the pool's figures and the votes)."""
