package config_test

import (
	"os"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// TestSimConfigLoads keeps deploy/sim.yaml, the gateway against `kommungraf
// sim`, valid and pointed at the simulators' default addresses.
func TestSimConfigLoads(t *testing.T) {
	// Unset, not empty: the file's ${VAR:-default}s apply to unset variables.
	for _, name := range []string{config.EnvDatabaseURL, config.EnvRedisURL, config.EnvRequireApproval,
		"KOMMUNGRAF_ADDR", "NAVET_URL", "ETJANST_URL", "GEODATA_URL", "KOMMUNGRAF_SIM_SQLITE", "KOMMUNGRAF_SIM_STATE"} {
		t.Setenv(name, "") // restored after the test
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load("../../../../deploy/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sources
	if s.Folkbokforing.URL != "http://127.0.0.1:8081" || s.Etjanst.URL != "http://127.0.0.1:8082" || s.Geodata.URL != "http://127.0.0.1:8083" ||
		s.Folkbokforing.BestallningsID != "KOMMUNGRAF-DEMO" || s.Skoldatabas.Driver != "sqlite" || s.Skoldatabas.DSN != "/tmp/kommungraf-skola.db" {
		t.Fatalf("sources %+v", s)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Authz.AccessLog.File != "/tmp/kommungraf-sim-access.jsonl" || len(c.Overrides()) != 0 {
		t.Fatalf("config %+v", c)
	}

	t.Setenv(config.EnvDatabaseURL, "postgres://postgres@127.0.0.1:5432/test")
	c, err = config.Load("../../../../deploy/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Overrides(); len(o) != 1 || o[0].String() != "school database: KOMMUNGRAF_DATABASE_URL overrides sources.skoldatabas (driver sqlite → postgres)" {
		t.Fatalf("overrides %v", o)
	}
}
