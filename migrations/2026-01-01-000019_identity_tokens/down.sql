DROP TABLE management.revoked_subjects;
DROP TABLE management.revoked_tokens;
