"""Locust anchor for benchmarks/loadgen_vs_wrk.py: FastHttpUser, no wait, one GET."""

from locust import FastHttpUser, constant, task


class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/")
