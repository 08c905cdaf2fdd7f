"""Tools for development and demos, not the worker: the local Kafka launcher, the demo,
replay of event files into Kafka, topic I/O helpers and a worker child process."""
