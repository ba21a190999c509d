"""gpt4rec.v1: stubs generated from proto/gpt4rec/v1/recommender.proto when the package is built."""
