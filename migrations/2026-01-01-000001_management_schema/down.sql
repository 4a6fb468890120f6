DROP TABLE IF EXISTS management.plans;
DROP TABLE IF EXISTS management.customers;
DROP SCHEMA IF EXISTS management;
