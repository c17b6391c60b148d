"""`run_bench.py history`: many runs read as series per configuration and machine, their change
points (E-Divisive means, Apache Otava's variant), and a static page of trends and changes."""
