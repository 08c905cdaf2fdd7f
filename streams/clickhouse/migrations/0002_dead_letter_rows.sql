-- Rows ClickHouse refused for good (a non-retryable error, after bounded retries):
-- the writer puts each here instead of retrying its batch forever
-- (streams/clickhouse/writer.py). `row` is the refused row as a JSON object of
-- column -> value, so it can be inspected, fixed and inserted again by hand.
-- Partitioned by the time of the failure (the writer's clock), never by a time
-- taken from the row.
CREATE TABLE IF NOT EXISTS {db}.dead_letter_rows
(
    failed_at       DateTime64(3, 'UTC'),
    table_name      LowCardinality(String),
    row             String,
    error           String,
    error_code      Nullable(Int32),
    attempts        UInt32,
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (table_name, failed_at);
