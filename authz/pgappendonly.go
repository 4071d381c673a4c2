package authz

import "fmt"

// appendOnlyDDL makes PostgreSQL tables append-only: a trigger function fn
// that refuses UPDATE, DELETE and TRUNCATE, whoever runs them, and its
// triggers on each table. Every statement is idempotent. A table's owner can
// still drop the triggers: in production let another role own the tables and
// grant the gateway's role INSERT and SELECT only.
func appendOnlyDDL(fn string, tables ...string) []string {
	out := []string{fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger
	LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION '%% is append-only: %% is not allowed', TG_TABLE_NAME, TG_OP
			USING ERRCODE = 'insufficient_privilege';
	END
	$$`, fn)}
	for _, t := range tables {
		out = append(out,
			fmt.Sprintf(`CREATE OR REPLACE TRIGGER %[1]s_no_update_delete
		BEFORE UPDATE OR DELETE ON %[1]s
		FOR EACH ROW EXECUTE FUNCTION %[2]s()`, t, fn),
			fmt.Sprintf(`CREATE OR REPLACE TRIGGER %[1]s_no_truncate
		BEFORE TRUNCATE ON %[1]s
		FOR EACH STATEMENT EXECUTE FUNCTION %[2]s()`, t, fn))
	}
	return out
}
