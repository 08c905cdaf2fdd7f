"""Grafana as code: boards, data source, alert rules, and `healthscore grafana publish`.

`boards` builds the dashboards (from `panels`, `visuals`, `scatter`, `variables`),
`alerting` the rules, contact point and policy, `datasource` the ClickHouse data
source; `generate` writes them under `dashboards/`; `publish` (the command line)
and `upsert` push them into a running Grafana through `api`; `macros` expands
Grafana's macros so the tests can run every query without a Grafana.
"""
