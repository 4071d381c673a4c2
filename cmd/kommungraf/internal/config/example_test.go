package config_test

import (
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// TestExampleConfigLoads keeps the documented example valid.
func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("NAVET_URL", "https://navet.example.internal/personpost")
	t.Setenv("NAVET_ORGNR", "212000-0000")
	t.Setenv("NAVET_BESTALLNINGS_ID", "ORDER-1")
	t.Setenv("ETJANST_URL", "https://etjanst.example.internal/")
	t.Setenv("GEODATA_URL", "https://geodata.example.internal/")
	t.Setenv("AVFALL_URL", "https://avfall.example.internal/")
	t.Setenv("TOMNINGAR_URL", "https://avfall.example.internal/tomningar/")
	t.Setenv("KOMMUNGRAF_DATABASE_URL", "postgres://kommungraf@db.example.internal/skola")
	c, err := config.Load("../../../../deploy/kommungraf.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "0.0.0.0:8080" || c.Sources.Skoldatabas.Driver != "postgres" ||
		c.Sources.Folkbokforing.BestallningsID != "ORDER-1" || c.Sources.Folkbokforing.MaxConcurrent != 128 {
		t.Fatalf("example parsed to %+v", c)
	}
}

// TestUnknownKeyLineIsTheFilesLine: blank lines and comments must not shift
// the line an unknown key is reported at.
func TestUnknownKeyLineIsTheFilesLine(t *testing.T) {
	_, err := config.Parse([]byte("# Kommungraf\n\n# server settings\nserver:\n\n  adress: x\n"))
	if err == nil || !strings.Contains(err.Error(), "line 6: field adress not found") {
		t.Fatalf("err = %v, want the unknown key at line 6", err)
	}
}
