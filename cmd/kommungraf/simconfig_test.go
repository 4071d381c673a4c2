package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// TestGatewayAgainstSim starts the gateway with deploy/sim.yaml against
// simulators started as `kommungraf sim --sqlite FILE` starts them. The
// simulators listen on free ports rather than the defaults, which another
// process on the machine may hold; that the file names the defaults is
// checked first.
func TestGatewayAgainstSim(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	for k, v := range map[string]string{"KOMMUNGRAF_SIM_SQLITE": filepath.Join(dir, "skola.db"), "KOMMUNGRAF_SIM_STATE": dir,
		config.EnvAccessLogKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="} {
		t.Setenv(k, v)
	}
	for _, name := range []string{"KOMMUNGRAF_ADDR", "NAVET_URL", "ETJANST_URL", "GEODATA_URL", "AVFALL_URL", config.EnvDatabaseURL, config.EnvRedisURL, config.EnvRequireApproval} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	cfg, err := config.Load("../../deploy/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &cfg.Sources
	if s.Folkbokforing.URL != "http://"+defaultNavetAddr || s.Etjanst.URL != "http://"+defaultETjanstAddr || s.Geodata.URL != "http://"+defaultGeodataAddr ||
		s.Folkbokforing.BestallningsID != sim.DefaultOrder || s.Declared["avfall"].URL != "http://"+defaultAvfallAddr {
		t.Fatalf("deploy/sim.yaml does not point at the simulators' defaults: %+v", *s)
	}

	ctx := context.Background()
	world := sim.NewWorld(sim.WorldOptions{Seed: 3, People: 300})
	store, err := sqldb.Open(ctx, sqldb.Options{Driver: "sqlite", DSN: s.Skoldatabas.DSN})
	if err != nil {
		t.Fatal(err)
	}
	err = sim.SeedSchoolDB(ctx, store, world)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	running, err := sim.Start(ctx, sim.Options{World: world})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Close() })
	s.Folkbokforing.URL, s.Etjanst.URL, s.Geodata.URL = running.NavetURL, running.ETjanstURL, running.GeodataURL
	avfall := s.Declared["avfall"]
	avfall.URL = running.AvfallURL
	s.Declared["avfall"] = avfall

	// An officer's API key, to show what a gateway outside demo mode answers.
	key, err := authz.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.APIKeys = append(cfg.Auth.APIKeys, config.APIKey{Name: "officer", Client: "policy-editor", Roles: []string{"security-officer"},
		Unit: "Informationssäkerhet", SHA256: authz.HashAPIKey(key)})
	base, gw := serveGateway(t, cfg, gateway.Options{})
	if gw.AccessLogLocation() != filepath.Join(dir, "kommungraf-sim-access.jsonl") || gw.DemoAccessLogKey() != "" {
		t.Fatalf("access log at %q, demo key %q", gw.AccessLogLocation(), gw.DemoAccessLogKey())
	}

	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{ schoolUnits(first: 2) { totalCount edges { node { code name } } } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct {
			SchoolUnits struct{ TotalCount int } `json:"schoolUnits"`
		} `json:"data"`
		Errors []any `json:"errors"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || len(out.Errors) > 0 || out.Data.SchoolUnits.TotalCount == 0 {
		t.Fatalf("school units from the simulators' database: %v %+v", err, out)
	}
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", err, resp)
	}

	// Outside demo mode a persona names nobody; a token does.
	_, _, err = runCLI(t, "policy", "explain", "--url", base, "--admin-token", key, "--persona", "case-officer", "--field", "Person.address")
	if err == nil || !strings.Contains(err.Error(), "400 BAD_REQUEST: persona: demo personas exist only on a demo gateway") {
		t.Fatalf("explain --persona outside demo mode: %v", err)
	}
	got, _, err := runCLI(t, "policy", "explain", "--url", base, "--admin-token", key, "--token", key, "--action", "admin", "--object", "policy")
	if err != nil || !strings.Contains(got, "decision:  ALLOW") || !strings.Contains(got, "subject=officer") || !strings.Contains(got, "(live, at "+base+")") {
		t.Fatalf("explain --token outside demo mode: %v\n%s", err, got)
	}
	// No demo token to fall back on: the message says what to give.
	_, _, err = runCLI(t, "policy", "explain", "--url", base, "--persona", "case-officer", "--field", "Person.address")
	if err == nil || !strings.Contains(err.Error(), "give --admin-token or set KOMMUNGRAF_TOKEN") {
		t.Fatalf("explain without a credential: %v", err)
	}
}
