-- deploy/compose.yaml: the postgres image creates the catalog database (POSTGRES_DB=recflow);
-- Prefect's API servers share a second one.
CREATE DATABASE prefect OWNER recflow;
