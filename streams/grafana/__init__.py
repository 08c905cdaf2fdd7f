"""Grafana as code: boards, data source, alert rules, and `healthscore grafana publish`.

`boards` builds the dashboards, `alerting` the rules, contact point and policy,
`datasource` the ClickHouse data source; `generate` writes them under
`dashboards/`; `publish` upserts them into a running Grafana; `macros`
expands Grafana's macros so the tests can run every query without one.
"""
