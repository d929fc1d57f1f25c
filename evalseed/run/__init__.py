"""`evalseed run` and the commands around it, one responsibility per module:

- `plan`: the run's options, what it will ask (suites x models x repeats), and its recorded config;
- `checks`: what is refused before anything is sent (keys, URLs, networks, an unenforceable budget);
- `command`: `evalseed run` from start to end (resume, dry run, the store, the end state);
- `drive`: the engine driven over the plan's jobs (local server, cassettes, progress, flushing);
- `summary`: the per suite and model figures after a run (`runs RUN_ID [--json]`);
- `rescore`: stored responses scored again through the job's scoring path;
- `validate`, `models`, `stored_runs`: the `validate`, `models` and `runs` commands;
- `queries`: the SQL these modules run on `runs` and `results`.
"""
