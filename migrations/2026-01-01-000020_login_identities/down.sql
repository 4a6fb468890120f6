DROP TABLE IF EXISTS management.login_states;
DROP TABLE IF EXISTS management.login_identities;
