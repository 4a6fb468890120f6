DROP TABLE IF EXISTS management.jobs;
