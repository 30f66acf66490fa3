"""Models as data: what each model is made of, where it comes from, and its files on disk."""
