ALTER TABLE management.jobs DROP COLUMN fence;
