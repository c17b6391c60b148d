"""The benchmark's vocabulary: what each strategy and each workload is, their parameters and
bounds, the server's options, the payloads both sides must agree on. No Tornado, no Locust,
nothing started on import: every room (harness, analysis, loadgen, scenarios, record and the
servers) may import it, and it imports none of them."""
